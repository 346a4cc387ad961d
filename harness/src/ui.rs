//! Progress bars (hidden when stderr is not a terminal, or with `--quiet`), and the same
//! progress as JSON lines for programs (`--events FILE`).

use std::fs::File;
use std::io::Write;
use std::ops::{ControlFlow, Deref};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use nas_core::train::{EpochInfo, StepInfo, TrainHook};

/// Makes progress bars.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// No bars at all.
    pub quiet: bool,
}

impl Ui {
    /// A bar of `len` units labelled `what`. indicatif draws nothing when stderr is not
    /// a terminal, so logs and CI output stay clean. With `--events`, every move of the
    /// bar is also an event (see [`Progress`]).
    pub fn bar(&self, len: usize, what: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::hidden());
        // Shown bars live in one set, below which log lines are printed (see `LogWriter`).
        let bar = if self.quiet { bar } else { BARS.add(bar) };
        let style = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        Progress {
            bar,
            what: what.to_string(),
        }
    }
}

/// A progress bar that also reports each new position as an event, when events are on.
/// Everything else is the bar's own (through `Deref`).
pub struct Progress {
    bar: ProgressBar,
    what: String,
}

impl Progress {
    /// Moves the bar to `pos` (one event).
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        event(&self.what, pos, self.bar.length().unwrap_or(0));
    }

    /// Moves the bar `delta` units on (one event).
    pub fn inc(&self, delta: u64) {
        self.bar.inc(delta);
        event(
            &self.what,
            self.bar.position(),
            self.bar.length().unwrap_or(0),
        );
    }
}

impl Deref for Progress {
    type Target = ProgressBar;
    fn deref(&self) -> &ProgressBar {
        &self.bar
    }
}

/// Where `--events` writes, and the file.
static EVENTS: OnceLock<(PathBuf, Mutex<File>)> = OnceLock::new();

/// Events written by this process.
static EVENT_COUNT: AtomicU64 = AtomicU64::new(0);

/// The environment variable that makes the process stop at its N-th event (see [`event`]).
pub const PARK_AT_EVENT: &str = "NAS_PARK_AT_EVENT";

static PARK_AT: LazyLock<Option<u64>> =
    LazyLock::new(|| std::env::var(PARK_AT_EVENT).ok()?.parse().ok());

/// Turns events on: each progress move appends one JSON line to `path` (created if
/// missing; kept if it exists, so worker processes and reruns can share it):
/// `{"what": "supernet", "pos": 12, "len": 40, "pid": 4242}`. `what` is the bar's label
/// (`supernet` steps, the strategy's evaluations, `retrain` steps of one training).
pub fn open_events(path: &Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // The path is kept absolute: worker processes start elsewhere.
    let path = std::path::absolute(path)?;
    let _ = EVENTS.set((path, Mutex::new(file)));
    Ok(())
}

/// The events file, when events are on (passed on to worker processes).
pub fn events_path() -> Option<&'static Path> {
    EVENTS.get().map(|(p, _)| p.as_path())
}

/// Writes one event (one `write` of one line, appended). For tests that kill a run at a
/// reproducible point, `NAS_PARK_AT_EVENT=N` makes the process stop right after writing
/// its N-th event, with every file it wrote before complete, until it is killed, or until
/// a signal asks a training to stop (`crate::interrupt`), which then goes on to its
/// checkpoint.
fn event(what: &str, pos: u64, len: u64) {
    let Some((_, file)) = EVENTS.get() else {
        return;
    };
    let mut line = serde_json::json!({
        "what": what, "pos": pos, "len": len, "pid": std::process::id(),
    })
    .to_string();
    line.push('\n');
    if let Ok(mut f) = file.lock() {
        // Progress reporting never stops the work: a failed write is dropped.
        let _ = f.write_all(line.as_bytes());
    }
    let n = EVENT_COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if *PARK_AT == Some(n) {
        while crate::interrupt::requested().is_none() {
            std::thread::park_timeout(std::time::Duration::from_millis(20));
        }
    }
}

/// Every shown progress bar: log lines are printed above them, not through them.
static BARS: LazyLock<MultiProgress> = LazyLock::new(MultiProgress::new);

/// stderr for the logs: the bars are cleared while a line is written and drawn again below
/// it, so a terminal shows each log line once and the bars only where they are.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        BARS.suspend(|| std::io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        BARS.suspend(|| std::io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Advances a bar on every training step, showing the loss.
pub struct StepBar {
    /// The bar.
    pub bar: Progress,
}

impl<M> TrainHook<M> for StepBar {
    fn on_step(&mut self, info: &StepInfo) -> ControlFlow<()> {
        self.bar.set_position(info.step as u64 + 1);
        if let Some(m) = &info.metrics {
            self.bar.set_message(format!("loss {:.3}", m.loss));
        }
        ControlFlow::Continue(())
    }
    fn metrics_every(&self) -> usize {
        // One read from the device per this many steps (a GPU would otherwise wait for
        // every step to finish before queueing the next).
        10
    }
    fn on_epoch(&mut self, info: &EpochInfo, _: &M) -> ControlFlow<()> {
        tracing::info!(
            "epoch {}/{}: mean loss {:.3}, train accuracy {:.3}",
            info.epoch + 1,
            info.epochs,
            info.mean_loss,
            info.train_accuracy
        );
        ControlFlow::Continue(())
    }
}
