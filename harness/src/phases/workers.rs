//! Stand-alone trainings in parallel worker processes (`retrain.workers`).
//!
//! The models trained stand-alone are small, and one training does not keep every core
//! busy; several trainings side by side, each on a share of the cores, finish a batch of
//! them sooner. Each training is a unit of work with its own result file
//! (`standalone/KEY.json`, written by the worker that trains it), so the results do not
//! depend on how the work was divided: training is bit-identical whatever the number of
//! threads, and a worker runs the same code with the same seeds as the parent would.
//!
//! A worker is this binary again (`nas standalone-worker`, a hidden command) on the same
//! run directory, whose saved configuration it reads. Its log goes to
//! `RUN/logs/worker-KEY.log`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nas_core::backend::NasAutodiffBackend;
use nas_core::space::Architecture;

use super::Ctx;
use super::standalone::{cached_standalone, standalone_key, train_one};
use crate::records::{Outcome, Role};

/// One stand-alone training to do.
#[derive(Debug, Clone)]
pub struct Job {
    /// The architecture.
    pub arch: Architecture,
    /// Why it is trained (for the log).
    pub role: Role,
    /// How far its training seed is moved from `retrain.train.seed`.
    pub seed_offset: u64,
}

/// How `jobs` ended (results, or failures of trainings that diverged), in order: read from the run directory where an identical
/// training was done before, the rest trained by `retrain.workers` worker processes at a
/// time (or here, with one worker).
pub fn train_all<B: NasAutodiffBackend>(ctx: &Ctx<B>, jobs: &[Job]) -> Result<Vec<Outcome>> {
    let workers = ctx.cfg.retrain.workers;
    let mut pending = Vec::new();
    for job in jobs {
        let key = standalone_key(ctx, &job.arch, job.seed_offset);
        if cached_standalone(ctx, &key)?.is_none() && !pending.iter().any(|(k, _)| *k == key) {
            pending.push((key, job));
        }
    }
    if workers > 1 && pending.len() > 1 {
        run_workers(ctx, &pending, workers)?;
    }
    jobs.iter()
        .enumerate()
        .map(|(i, job)| {
            if workers == 1 && pending.len() > 1 {
                tracing::info!("stand-alone training {} of {}", i + 1, jobs.len());
            }
            train_one(ctx, &job.arch, job.role, job.seed_offset)
        })
        .collect()
}

/// A worker process and what it trains.
struct Running {
    child: Child,
    key: String,
    arch: String,
    log: PathBuf,
}

/// Trains `pending` in worker processes, `workers` at a time, each with an equal share of
/// the cores as its thread count.
fn run_workers<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    pending: &[(String, &Job)],
    workers: usize,
) -> Result<()> {
    let exe = std::env::current_exe().context("finding this program to start workers")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / workers).max(1);
    let logs = ctx.run.root().join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    tracing::info!(
        "{} stand-alone trainings in {workers} worker processes of {threads} thread(s) each",
        pending.len()
    );
    let mut queue = pending.iter();
    let mut running: Vec<Running> = Vec::new();
    let mut done = 0;
    loop {
        while running.len() < workers {
            let Some((key, job)) = queue.next() else {
                break;
            };
            let started = start_worker(ctx, &exe, &logs, threads, key, job);
            match started {
                Ok(r) => running.push(r),
                Err(e) => {
                    stop_all(&mut running);
                    return Err(e);
                }
            }
        }
        if running.is_empty() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut i = 0;
        while i < running.len() {
            let status = running[i].child.try_wait();
            match status {
                Ok(None) => i += 1,
                Ok(Some(status)) => {
                    let r = running.swap_remove(i);
                    let failed = if !status.success() {
                        Some(format!("exited with {status}"))
                    } else if ctx.run.read_outcome(&r.key)?.is_none() {
                        Some("exited without writing its result".to_string())
                    } else {
                        None
                    };
                    if let Some(why) = failed {
                        stop_all(&mut running);
                        bail!(
                            "the worker training {} {why}; its log ({}) ends:\n{}",
                            r.arch,
                            r.log.display(),
                            log_tail(&r.log)
                        );
                    }
                    done += 1;
                    tracing::info!("stand-alone training {done} of {} done", pending.len());
                }
                Err(e) => {
                    stop_all(&mut running);
                    return Err(e).context("waiting for a worker");
                }
            }
        }
    }
}

fn start_worker<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    exe: &std::path::Path,
    logs: &std::path::Path,
    threads: usize,
    key: &str,
    job: &Job,
) -> Result<Running> {
    let log = logs.join(format!("worker-{key}.log"));
    let file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let arch = job.arch.to_string();
    let mut command = Command::new(exe);
    if let Some(events) = crate::ui::events_path() {
        // Workers report their steps to the same file; a stop at the N-th event is for
        // the process the test started, not for its workers.
        command.arg("--events").arg(events);
        command.env_remove(crate::ui::PARK_AT_EVENT);
    }
    let child = command
        .arg("standalone-worker")
        .arg("--quiet")
        .arg("--out")
        .arg(ctx.run.root())
        .args(["--backend", &ctx.backend, "--arch", &arch])
        .args(["--seed-offset", &job.seed_offset.to_string()])
        .args(["--role", job.role.as_str()])
        .env("RAYON_NUM_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .with_context(|| format!("starting a worker ({})", exe.display()))?;
    Ok(Running {
        child,
        key: key.to_string(),
        arch,
        log,
    })
}

/// Stops the workers still running (their trainings are redone by the next run).
fn stop_all(running: &mut Vec<Running>) {
    for r in running.iter_mut() {
        let _ = r.child.kill();
        let _ = r.child.wait();
    }
    running.clear();
}

/// The last lines of a worker's log.
fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
