//! Signals that stop a training at a checkpoint instead of killing it.
//!
//! While an [`Armed`] guard lives (a supernet in training), SIGINT (Ctrl-C), SIGTERM and
//! SIGUSR1 (what `nas slurm` jobs ask Slurm to send shortly before the time limit) only
//! record a request: the training finishes the step in flight, saves a checkpoint inside
//! the epoch, and the command ends with [`Interrupted`]. A second SIGINT or SIGTERM while
//! the first is being handled ends the process at once, as does either one while no
//! guard lives. SIGUSR1 while no guard lives is kept as a request: a supernet training
//! that starts later (Slurm may warn early, while a task still loads its data) stops at
//! its first step; work that has no checkpoint to take ignores it and goes on until the
//! time limit ends it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use signal_hook::consts::signal::{SIGINT, SIGTERM, SIGUSR1};

/// Whether a guard lives.
static ARMED: AtomicBool = AtomicBool::new(false);
/// The signal that asked to stop (0: none).
static REQUESTED: AtomicI32 = AtomicI32::new(0);
/// Whether the handling thread runs (it is started by the first guard).
static LISTENING: OnceLock<bool> = OnceLock::new();

/// Signals stop the process at a checkpoint while this lives (see the module docs).
#[derive(Debug)]
pub struct Armed(());

impl Drop for Armed {
    fn drop(&mut self) {
        ARMED.store(false, Ordering::SeqCst);
    }
}

/// Starts handling the signals now, unarmed: SIGINT and SIGTERM end the process as
/// before, SIGUSR1 is ignored. A Slurm task does this first thing, since Slurm may send
/// its warning before the time limit (SIGUSR1, whose default action ends a process) early,
/// while the task is still loading its data or trains a stand-alone model. Returns
/// whether the handling runs (if it cannot be installed, a warning says so and signals
/// keep their default actions).
pub fn install() -> bool {
    *LISTENING.get_or_init(|| match listen() {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(
                "cannot handle signals ({e}): Ctrl-C and SIGTERM end training without a checkpoint"
            );
            false
        }
    })
}

/// Arms the handling until the guard is dropped (see the module docs).
pub fn arm() -> Armed {
    if install() {
        ARMED.store(true, Ordering::SeqCst);
    }
    Armed(())
}

fn listen() -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGUSR1])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let first = REQUESTED.load(Ordering::SeqCst) == 0;
                if ARMED.load(Ordering::SeqCst) && first {
                    REQUESTED.store(sig, Ordering::SeqCst);
                    tracing::warn!(
                        "{}: stopping after this step, at a checkpoint",
                        signal_name(sig)
                    );
                } else if sig == SIGUSR1 {
                    if first {
                        REQUESTED.store(sig, Ordering::SeqCst);
                    }
                    tracing::info!(
                        "SIGUSR1: nothing to checkpoint now; a supernet training started later stops at its first step"
                    );
                } else {
                    // The default action: the process ends by this signal.
                    let _ = signal_hook::low_level::emulate_default_handler(sig);
                    std::process::exit(128 + sig);
                }
            }
        })?;
    Ok(())
}

/// The signal that asked to stop, if one did.
pub fn requested() -> Option<i32> {
    match REQUESTED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Whether `sig` is the signal `nas slurm` jobs ask for before the time limit (SIGUSR1).
pub fn is_time_limit_warning(sig: i32) -> bool {
    sig == SIGUSR1
}

/// `SIGINT`, `SIGTERM`, `SIGUSR1`, or the number.
pub fn signal_name(sig: i32) -> String {
    match sig {
        SIGINT => "SIGINT".into(),
        SIGTERM => "SIGTERM".into(),
        SIGUSR1 => "SIGUSR1".into(),
        s => format!("signal {s}"),
    }
}

/// A training stopped by a signal at a checkpoint, from which the same command resumes.
#[derive(Debug, thiserror::Error)]
#[error("stopped by {} with a checkpoint {where_}: run the same command to resume from it", signal_name(*.signal))]
pub struct Interrupted {
    /// The signal.
    pub signal: i32,
    /// Where the checkpoint is, e.g. `after step 13 of 40 in runs/x/supernet/KEY`.
    pub where_: String,
}

impl Interrupted {
    /// The conventional exit status of a process ended by the signal (128 + its number).
    pub fn exit_code(&self) -> u8 {
        u8::try_from(128 + self.signal).unwrap_or(1)
    }
}
