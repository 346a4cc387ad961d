//! `nas slurm`: the units of a phase (`phases::units`) as a Slurm job array.
//!
//! `submit` writes a submission folder, `RUN/slurm/PHASE-STAMP/`, with the configuration
//! the units were computed under (`config.toml`), the pending units (`units.jsonl`, one
//! per array task), the batch script (`job.sh`) and, once `sbatch` accepted it,
//! `submission.json` (job ids). Each array task runs this binary on one unit
//! (`nas slurm task`) and writes that unit's result file into the run directory; the
//! ordinary command on the run directory (or the dependent merge job) then finds every
//! result there and writes the report. Nothing here is a scheduler: which unit runs
//! where and when, retries and preemption are Slurm's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::phases::{Phase, Prepared, Unit, UnitState, units};
use crate::rundir::{RunLock, read_json, write_atomic, write_json};

/// What a user chooses about the job.
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--gres`; `None`: `gpu:1` for a GPU backend, nothing for a CPU one; `Some("")`: none.
    pub gres: Option<String>,
    /// `--time`.
    pub time: Option<String>,
    /// Seconds before the time limit at which Slurm sends the task SIGUSR1 (0: never).
    pub signal_margin: u32,
    /// How many times a task may requeue itself after that signal.
    pub max_requeues: u32,
    /// At most this many array tasks at once (`--array=...%K`).
    pub array_limit: Option<usize>,
    /// `--cpus-per-task` (also each task's thread count).
    pub cpus_per_task: Option<usize>,
    /// `--mem`.
    pub mem: Option<String>,
    /// Further `#SBATCH` options, verbatim (e.g. `--account=x`).
    pub extra: Vec<String>,
    /// Also submit the merge (the ordinary command) as a job that starts when every
    /// array task succeeded (`--dependency=afterok`).
    pub merge: bool,
    /// The merge job computes units without a result itself instead of refusing.
    pub merge_compute_missing: bool,
    /// Write the submission folder and print the script, submit nothing.
    pub dry_run: bool,
    /// The `sbatch` program.
    pub sbatch: String,
}

/// `RUN/slurm/*/submission.json`: what was submitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    /// The phase.
    pub phase: Phase,
    /// Backend of the tasks.
    pub backend: String,
    /// Units submitted (the lines of `units.jsonl`).
    pub units: usize,
    /// The array job's id.
    pub job_id: String,
    /// The merge job's id, if one was submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_job_id: Option<String>,
    /// When (UTC, RFC 3339).
    pub submitted: String,
    /// When `nas slurm cancel` cancelled it (UTC, RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<String>,
}

/// A submission folder.
struct Folder {
    dir: PathBuf,
}

impl Folder {
    fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    fn units(&self) -> PathBuf {
        self.dir.join("units.jsonl")
    }
    fn script(&self) -> PathBuf {
        self.dir.join("job.sh")
    }
    fn merge_script(&self) -> PathBuf {
        self.dir.join("merge.sh")
    }
    fn submission(&self) -> PathBuf {
        self.dir.join("submission.json")
    }
    fn task_log(&self, index: usize) -> PathBuf {
        self.dir.join(format!("task-{index}.log"))
    }

    fn read_units(&self) -> Result<Vec<Unit>> {
        let p = self.units();
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        text.lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .with_context(|| format!("{} line {} is not a unit", p.display(), i + 1))
            })
            .collect()
    }
}

/// Single-quotes `s` for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn utc_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn is_gpu(backend: &str) -> bool {
    let parts: Vec<String> = backend
        .split(':')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    match parts.first().map(String::as_str) {
        Some("cuda") => true,
        // wgpu:cpu is a software Vulkan driver.
        Some("wgpu") => parts.get(1).is_none_or(|a| a != "cpu"),
        // LibTorch runs on the CPU unless asked for CUDA.
        Some("tch") => parts.get(1).is_some_and(|a| a == "cuda"),
        _ => false,
    }
}

/// The batch script of an array of `n` units.
fn script(
    folder: &Folder,
    run: &Path,
    exe: &Path,
    backend: &str,
    n: usize,
    o: &JobOptions,
) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(
        s,
        "#SBATCH --job-name=nas-{}",
        folder
            .dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    );
    let limit = o.array_limit.map_or_else(String::new, |k| format!("%{k}"));
    let _ = writeln!(s, "#SBATCH --array=0-{}{limit}", n - 1);
    let _ = writeln!(
        s,
        "#SBATCH --output={}",
        folder.dir.join("task-%a.log").display()
    );
    let gres = match &o.gres {
        Some(g) => g.clone(),
        None if is_gpu(backend) => "gpu:1".into(),
        None => String::new(),
    };
    let options = [
        ("partition", o.partition.clone().unwrap_or_default()),
        ("gres", gres),
        ("time", o.time.clone().unwrap_or_default()),
        (
            "cpus-per-task",
            o.cpus_per_task.map_or_else(String::new, |c| c.to_string()),
        ),
        ("mem", o.mem.clone().unwrap_or_default()),
    ];
    for (name, value) in options {
        if !value.is_empty() {
            let _ = writeln!(s, "#SBATCH --{name}={value}");
        }
    }
    for e in &o.extra {
        let _ = writeln!(s, "#SBATCH {e}");
    }
    if o.signal_margin > 0 {
        // SIGUSR1 to the batch shell, which `exec` below makes this program: a supernet
        // saves a checkpoint at its current step and the task requeues itself.
        let _ = writeln!(s, "#SBATCH --signal=B:USR1@{}", o.signal_margin);
    }
    // A preempted or failed node's task goes back to the queue; its unit starts over
    // (or resumes, for a supernet) and writes its result atomically. Its log keeps what
    // every run of the task wrote.
    s.push_str("#SBATCH --requeue\n#SBATCH --open-mode=append\n");
    let _ = write!(
        s,
        "\n# Written by `nas slurm submit`: array task i does unit i of units.jsonl (one line\n\
         # each) and writes its result into the run directory.\n\
         set -euo pipefail\n\
         export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-1}}\"\n\
         echo \"nas: array task $SLURM_ARRAY_TASK_ID of job $SLURM_ARRAY_JOB_ID on $(hostname), $RAYON_NUM_THREADS thread(s)\" >&2\n\
         exec {} slurm task --out {} --submission {} --index \"$SLURM_ARRAY_TASK_ID\" --backend {} --max-requeues {}\n",
        quote(&exe.display().to_string()),
        quote(&run.display().to_string()),
        quote(&folder.dir.display().to_string()),
        quote(backend),
        o.max_requeues,
    );
    s
}

fn merge_script(
    folder: &Folder,
    run: &Path,
    exe: &Path,
    backend: &str,
    phase: Phase,
    o: &JobOptions,
) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(s, "#SBATCH --job-name=nas-merge");
    let _ = writeln!(
        s,
        "#SBATCH --output={}",
        folder.dir.join("merge.log").display()
    );
    if let Some(p) = &o.partition {
        let _ = writeln!(s, "#SBATCH --partition={p}");
    }
    for e in &o.extra {
        let _ = writeln!(s, "#SBATCH {e}");
    }
    let cmd: Vec<String> = phase
        .merge_command()
        .iter()
        .map(|w| w.to_string())
        .collect();
    let exe_q = quote(&exe.display().to_string());
    let run_q = quote(&run.display().to_string());
    let _ = writeln!(
        s,
        "\n# Written by `nas slurm submit --merge`: the ordinary command, which finds every\n\
         # unit's result in the run directory and writes the report.\n\
         set -euo pipefail"
    );
    if o.merge_compute_missing {
        let _ = writeln!(
            s,
            "# --merge-compute-missing: units without a result are computed here."
        );
    } else {
        let _ = writeln!(
            s,
            "# First, every unit must have its result: a task that failed or did nothing is\n\
             # not made up for here (`--merge-compute-missing` would).\n\
             {exe_q} slurm check --quiet --out {run_q} --submission {}",
            quote(&folder.dir.display().to_string())
        );
    }
    let _ = writeln!(
        s,
        "exec {} {} --quiet --out {} --backend {}",
        exe_q,
        cmd.join(" "),
        quote(&run.display().to_string()),
        quote(backend),
    );
    s
}

/// Runs `sbatch --parsable` on `script` (with `args` before it); returns the job id.
fn sbatch(program: &str, args: &[String], script: &Path) -> Result<String> {
    let out = Command::new(program)
        .arg("--parsable")
        .args(args)
        .arg(script)
        .output()
        .with_context(|| {
            format!("running {program} (is Slurm installed here? --sbatch names the program)")
        })?;
    if !out.status.success() {
        bail!(
            "{program} refused {}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{program} printed no job id: {}", text.trim());
    }
    Ok(id)
}

/// `nas slurm submit`: hands the pending units of `phase` to Slurm as a job array;
/// returns the submission folder. `lock` (the run directory's) is held while the units
/// are read and written down, and released before anything is submitted: the tasks and
/// the merge job must be free to start at once.
pub fn submit(
    prep: &Prepared,
    phase: Phase,
    o: &JobOptions,
    lock: RunLock,
) -> Result<Option<PathBuf>> {
    let all = units(prep, phase)?;
    let queued = queued_units(prep.run.root())?;
    let mut pending = Vec::new();
    let (mut done, mut failed, mut in_queue) = (0, 0, 0);
    for u in all {
        match u.state(prep)? {
            UnitState::Done => done += 1,
            UnitState::Failed(_) => failed += 1,
            UnitState::Pending if queued.contains(&u) => in_queue += 1,
            UnitState::Pending => pending.push(u),
        }
    }
    if in_queue > 0 {
        println!(
            "{in_queue} units not done are still queued or running in earlier submissions: not sent again"
        );
    }
    let merge = phase.merge_command().join(" ");
    let run_arg = prep.run.root().display();
    if pending.is_empty() {
        println!(
            "nothing to submit: the {} units of {} are done ({failed} recorded as failed); \
             `nas {merge} --out {run_arg}` writes the report",
            done + failed,
            phase.name()
        );
        return Ok(None);
    }
    let exe = std::env::current_exe().context("finding this program for the job script")?;
    let run = std::path::absolute(prep.run.root())
        .with_context(|| format!("resolving {}", prep.run.root().display()))?;
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut dir = run.join("slurm").join(format!("{}-{stamp}", phase.name()));
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = run
            .join("slurm")
            .join(format!("{}-{stamp}-{n}", phase.name()));
    }
    let folder = Folder { dir };
    std::fs::create_dir_all(&folder.dir)
        .with_context(|| format!("creating {}", folder.dir.display()))?;
    write_atomic(&folder.config(), prep.cfg.to_toml()?.as_bytes())?;
    let mut lines = String::new();
    for u in &pending {
        lines.push_str(&serde_json::to_string(u).context("encoding a unit")?);
        lines.push('\n');
    }
    write_atomic(&folder.units(), lines.as_bytes())?;
    let text = script(&folder, &run, &exe, &prep.backend, pending.len(), o);
    write_atomic(&folder.script(), text.as_bytes())?;
    println!(
        "{} units of {} pending ({done} done, {failed} recorded as failed): {}",
        pending.len(),
        phase.name(),
        folder.units().display()
    );
    if o.dry_run {
        println!(
            "job script (not submitted, --dry-run): {}\n",
            folder.script().display()
        );
        print!("{text}");
        return Ok(Some(folder.dir));
    }
    drop(lock);
    let job_id = match sbatch(&o.sbatch, &[], &folder.script()) {
        Ok(id) => id,
        Err(e) => {
            // Nothing was submitted: no folder claims otherwise.
            let _ = std::fs::remove_dir_all(&folder.dir);
            return Err(e);
        }
    };
    let mut submission = Submission {
        phase,
        backend: prep.backend.clone(),
        units: pending.len(),
        job_id: job_id.clone(),
        merge_job_id: None,
        cancelled: None,
        submitted: utc_now(),
    };
    write_json(&folder.submission(), &submission)?;
    println!("submitted job array {job_id} ({} tasks)", pending.len());
    if o.merge {
        let text = merge_script(&folder, &run, &exe, &prep.backend, phase, o);
        write_atomic(&folder.merge_script(), text.as_bytes())?;
        let id = sbatch(
            &o.sbatch,
            &[format!("--dependency=afterok:{job_id}")],
            &folder.merge_script(),
        )?;
        println!("submitted the merge job {id} (runs `nas {merge}` once every task succeeded)");
        submission.merge_job_id = Some(id);
        write_json(&folder.submission(), &submission)?;
    } else {
        println!("when it is done: `nas {merge} --out {run_arg}` writes the report");
    }
    Ok(Some(folder.dir))
}

/// The submission folders of a run directory, oldest first.
fn folders(run: &Path) -> Result<Vec<Folder>> {
    let root = run.join("slurm");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(Vec::new());
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("units.jsonl").is_file())
        .collect();
    dirs.sort();
    Ok(dirs.into_iter().map(|dir| Folder { dir }).collect())
}

/// States of the array tasks of job `id` by `squeue`, if it is there: task index → state.
fn queue_states(id: &str) -> Option<BTreeMap<usize, String>> {
    let out = Command::new("squeue")
        .args(["-h", "-r", "-j", id, "-o", "%K %T"])
        .output()
        .ok()?;
    if !out.status.success() {
        // A job that left the queue is "invalid" to squeue: nothing queued.
        return Some(Default::default());
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (i, s) = l.trim().split_once(' ')?;
                Some((i.parse().ok()?, s.to_string()))
            })
            .collect(),
    )
}

/// How an array task ended (or stands), as Slurm's accounting or controller reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEnd {
    /// Slurm's state, e.g. `TIMEOUT`, `FAILED`, `CANCELLED` (the first word only).
    pub state: String,
    /// `exit code:signal`, e.g. `1:0`.
    pub exit_code: String,
    /// How many times Slurm requeued it (from `scontrol`; 0 where unknown).
    pub restarts: u32,
}

impl TaskEnd {
    /// In words, for `status`: `timed out`, `failed (exit code 3)`, ...
    pub fn describe(&self) -> String {
        let code = self.exit_code.split(':').next().unwrap_or("0");
        let base = match self.state.as_str() {
            "PENDING" => "pending".to_string(),
            "RUNNING" => "running".to_string(),
            "COMPLETED" => "completed without a result".to_string(),
            "TIMEOUT" => "timed out".to_string(),
            "OUT_OF_MEMORY" => "out of memory".to_string(),
            "NODE_FAIL" => "node failure".to_string(),
            "CANCELLED" => "cancelled".to_string(),
            "FAILED" => format!("failed (exit code {code})"),
            "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" => "requeued".to_string(),
            "PREEMPTED" => "preempted".to_string(),
            other => other.to_lowercase().replace('_', " "),
        };
        match self.restarts {
            0 => base,
            1 => format!("{base}, requeued once"),
            n => format!("{base}, requeued {n} times"),
        }
    }

    /// Whether the task ended without its result in a way its log may explain.
    fn ended_badly(&self) -> bool {
        !matches!(self.state.as_str(), "PENDING" | "RUNNING" | "CANCELLED")
    }
}

/// The array task indices of `id`, for `sacct`'s `JOB_INDEX` and `scontrol`'s
/// `ArrayTaskId` (`3`, `0-4`, `0-4%2`, `1,3-5`, and `sacct`'s `JOB_[0-4]` for pending
/// ranges).
fn task_indices(spec: &str) -> Vec<usize> {
    let spec = spec.trim_start_matches('[').trim_end_matches(']');
    let spec = spec.split('%').next().unwrap_or_default();
    let mut out = Vec::new();
    for part in spec.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b.min(a + 100_000));
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

/// Parses `sacct -n -P -X -j ID --format=JobID,State,ExitCode`: task index → end.
pub fn parse_sacct(id: &str, text: &str) -> BTreeMap<usize, TaskEnd> {
    let mut ends = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.trim().split('|').collect();
        let [job, state, exit_code, ..] = fields[..] else {
            continue;
        };
        let Some(spec) = job.strip_prefix(id).and_then(|r| r.strip_prefix('_')) else {
            continue;
        };
        // "CANCELLED by 0": the state is the first word.
        let state = state
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let end = TaskEnd {
            state,
            exit_code: exit_code.to_string(),
            restarts: 0,
        };
        ends.extend(task_indices(spec).into_iter().map(|i| (i, end.clone())));
    }
    ends
}

/// Parses `scontrol -o show job ID` (one record per line, `Key=Value` words): task index
/// → end, for the records of array job `id`.
pub fn parse_scontrol(id: &str, text: &str) -> BTreeMap<usize, TaskEnd> {
    let mut ends = BTreeMap::new();
    for line in text.lines() {
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        };
        if field("ArrayJobId") != Some(id) {
            continue;
        }
        let (Some(tasks), Some(state)) = (field("ArrayTaskId"), field("JobState")) else {
            continue;
        };
        let end = TaskEnd {
            state: state.to_string(),
            exit_code: field("ExitCode").unwrap_or("0:0").to_string(),
            restarts: field("Restarts").and_then(|r| r.parse().ok()).unwrap_or(0),
        };
        ends.extend(task_indices(tasks).into_iter().map(|i| (i, end.clone())));
    }
    ends
}

/// How the array tasks of job `id` stand: `sacct` where accounting is on, else
/// `scontrol` (which keeps finished jobs for a few minutes, `MinJobAge`); the requeue
/// counts come from `scontrol` either way. `None` when neither answers.
fn task_ends(id: &str) -> Option<BTreeMap<usize, TaskEnd>> {
    let run = |program: &str, args: &[&str]| -> Option<String> {
        let out = Command::new(program).args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let sacct = run(
        "sacct",
        &["-n", "-P", "-X", "-j", id, "--format=JobID,State,ExitCode"],
    )
    .map(|t| parse_sacct(id, &t))
    .filter(|m| !m.is_empty());
    let scontrol = run("scontrol", &["-o", "show", "job", id]).map(|t| parse_scontrol(id, &t));
    match (sacct, scontrol) {
        (Some(mut ends), Some(live)) => {
            for (i, e) in &mut ends {
                e.restarts = live.get(i).map_or(0, |l| l.restarts);
            }
            Some(ends)
        }
        (Some(ends), None) => Some(ends),
        (None, Some(live)) if !live.is_empty() => Some(live),
        _ => None,
    }
}

/// The last `n` lines of a task's log, indented, or nothing.
fn log_tail(path: &Path, n: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("\n          | {l}"))
        .collect()
}

/// `nas slurm cancel`: cancels the array and merge jobs of every submission of the run
/// directory (or of `submission`, a folder `RUN/slurm/PHASE-STAMP`) with `scancel`, and
/// records that in its `submission.json`. Results already written stay.
pub fn cancel(run: &Path, submission: Option<&Path>, scancel: &str) -> Result<()> {
    let chosen: Vec<Folder> = match submission {
        Some(dir) => {
            let folder = Folder {
                dir: dir.to_path_buf(),
            };
            if !folder.submission().is_file() {
                bail!(
                    "{} is not a submitted Slurm submission (no submission.json)",
                    dir.display()
                );
            }
            vec![folder]
        }
        None => folders(run)?
            .into_iter()
            .filter(|f| f.submission().is_file())
            .collect(),
    };
    if chosen.is_empty() {
        bail!("no Slurm submissions in {}", run.display());
    }
    for f in chosen {
        let Some(mut sub) = read_json::<Submission>(&f.submission())? else {
            continue;
        };
        let mut jobs = vec![sub.job_id.clone()];
        jobs.extend(sub.merge_job_id.clone());
        let out = Command::new(scancel)
            .args(&jobs)
            .output()
            .with_context(|| format!("running {scancel} (is Slurm installed here?)"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            // Jobs that already left the queue are "invalid" to scancel: nothing to do.
            if !err.to_lowercase().contains("invalid job id") {
                bail!("{scancel} {} failed: {}", jobs.join(" "), err.trim());
            }
        }
        sub.cancelled.get_or_insert_with(utc_now);
        write_json(&f.submission(), &sub)?;
        println!(
            "{}: cancelled job {}{}",
            f.dir.file_name().unwrap_or_default().to_string_lossy(),
            sub.job_id,
            sub.merge_job_id
                .as_ref()
                .map_or_else(String::new, |m| format!(" and merge job {m}"))
        );
    }
    Ok(())
}

/// The units of earlier submissions that `squeue` still lists (pending or running).
fn queued_units(run: &Path) -> Result<Vec<Unit>> {
    let mut queued = Vec::new();
    for f in folders(run)? {
        let Some(sub) = read_json::<Submission>(&f.submission())? else {
            continue;
        };
        let Some(states) = queue_states(&sub.job_id) else {
            continue;
        };
        let units = f.read_units()?;
        queued.extend(states.keys().filter_map(|&i| units.get(i).cloned()));
    }
    Ok(queued)
}

/// `nas slurm status`: every submission of the run directory, unit by unit as the run
/// directory has it (and `squeue`, where there is one).
pub fn status(run: &Path, ui: crate::ui::Ui, backend: &str) -> Result<()> {
    let subs = folders(run)?;
    if subs.is_empty() {
        println!("no Slurm submissions in {}", run.display());
        return Ok(());
    }
    let mut summary = (0, 0, 0);
    for f in &subs {
        let cfg = Config::load(&f.config())?;
        let prep = Prepared::new(cfg, crate::rundir::RunDir::new(run), ui, backend.into())?;
        let sub: Option<Submission> = read_json(&f.submission())?;
        let queue = sub.as_ref().and_then(|s| queue_states(&s.job_id));
        // Asked only when some unit is neither done nor failed.
        let mut ends: Option<Option<BTreeMap<usize, TaskEnd>>> = None;
        let units = f.read_units()?;
        let name = f
            .dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match &sub {
            Some(s) => println!(
                "{name}: job {}{}, {} units, submitted {}{}",
                s.job_id,
                s.merge_job_id
                    .as_ref()
                    .map_or_else(String::new, |m| format!(" (merge job {m})")),
                s.units,
                s.submitted,
                s.cancelled
                    .as_ref()
                    .map_or_else(String::new, |c| format!(", cancelled {c}"))
            ),
            None => println!(
                "{name}: {} units, not submitted (--dry-run or sbatch failed)",
                units.len()
            ),
        }
        let (mut done, mut failed, mut pending) = (0, 0, 0);
        for (i, u) in units.iter().enumerate() {
            // The last lines of the task's log, for a task that ended without its result.
            let mut tail = String::new();
            let state = match u.state(&prep)? {
                UnitState::Done => {
                    done += 1;
                    let by = match u.computed_by(&prep)? {
                        Some(by) => format!("done by {by}"),
                        None => "done".to_string(),
                    };
                    // A task that requeued itself (or was requeued) says so while Slurm
                    // still knows the job.
                    let restarts = sub.as_ref().and_then(|s| {
                        ends.get_or_insert_with(|| task_ends(&s.job_id))
                            .as_ref()?
                            .get(&i)
                            .map(|e| e.restarts)
                    });
                    match restarts {
                        Some(1) => format!("{by}, requeued once"),
                        Some(n) if n > 1 => format!("{by}, requeued {n} times"),
                        _ => by,
                    }
                }
                UnitState::Failed(why) => {
                    failed += 1;
                    format!("failed: {why}")
                }
                UnitState::Pending => {
                    pending += 1;
                    let end = sub.as_ref().and_then(|s| {
                        ends.get_or_insert_with(|| task_ends(&s.job_id))
                            .as_ref()?
                            .get(&i)
                            .cloned()
                    });
                    let log = f.task_log(i);
                    match (queue.as_ref().and_then(|q| q.get(&i)), end) {
                        (Some(s), end) => {
                            let restarts = end.map_or(0, |e| e.restarts);
                            TaskEnd {
                                state: s.clone(),
                                exit_code: String::new(),
                                restarts,
                            }
                            .describe()
                        }
                        (None, Some(end)) if end.ended_badly() && log.exists() => {
                            tail = log_tail(&log, 3);
                            format!("{}: see {}", end.describe(), log.display())
                        }
                        (None, Some(end)) => end.describe(),
                        (None, None) if sub.as_ref().is_some_and(|s| s.cancelled.is_some()) => {
                            "cancelled".into()
                        }
                        (None, None) if queue.is_some() && log.exists() => {
                            format!("not done and not queued: see {}", log.display())
                        }
                        (None, None) if queue.is_some() => "not done, not queued".into(),
                        (None, None) => "not done".into(),
                    }
                }
            };
            println!("  {i:>4}  {state:<12}  {}{tail}", u.describe());
        }
        println!("  done {done}, failed {failed}, not done {pending}");
        summary.0 += done;
        summary.1 += failed;
        summary.2 += pending;
    }
    println!(
        "all submissions: done {}, failed {}, not done {}{}",
        summary.0,
        summary.1,
        summary.2,
        if summary.2 > 0 {
            " (`nas slurm submit` again sends what is not done and not queued)"
        } else {
            ""
        }
    );
    Ok(())
}

/// `nas slurm check`: whether every unit of a submission (`submission`, or the latest)
/// has its result, and who computed each; an error listing the units without one (and,
/// with `require_array`, those computed by anyone but their own array task).
pub fn check(
    run: &Path,
    submission: Option<&Path>,
    require_array: bool,
    ui: crate::ui::Ui,
) -> Result<()> {
    let folder = match submission {
        Some(dir) => Folder {
            dir: dir.to_path_buf(),
        },
        None => match folders(run)?.pop() {
            Some(f) => f,
            None => bail!("no Slurm submissions in {}", run.display()),
        },
    };
    let units = folder.read_units()?;
    let cfg = Config::load(&folder.config())?;
    let prep = Prepared::new(cfg, crate::rundir::RunDir::new(run), ui, "flex".into())?;
    let sub: Option<Submission> = read_json(&folder.submission())?;
    let (mut missing, mut elsewhere) = (Vec::new(), Vec::new());
    for (i, u) in units.iter().enumerate() {
        let own = sub.as_ref().map(|s| format!("slurm:{}_{i}", s.job_id));
        let state = u.state(&prep)?;
        let by = u.computed_by(&prep)?;
        let line = match (&state, &by) {
            (UnitState::Pending, _) => {
                missing.push(format!("{i} ({})", u.describe()));
                "no result".to_string()
            }
            (_, Some(by)) if own.as_deref() == Some(by) => format!("by its array task {by}"),
            (_, by) => {
                let by = by.clone().unwrap_or_else(|| "an unrecorded process".into());
                elsewhere.push(format!("{i} ({}) by {by}", u.describe()));
                format!("by {by}, not its array task")
            }
        };
        if !ui.quiet {
            println!("  {i:>4}  {line:<36}  {}", u.describe());
        }
    }
    let name = folder.dir.display();
    if !missing.is_empty() {
        bail!(
            "{} of {} units of {name} have no result: {}. Send them again with `nas slurm \
             submit`, or compute them here with the ordinary command on {} (`--merge-compute-missing` \
             lets the merge job do that)",
            missing.len(),
            units.len(),
            missing.join(", "),
            run.display()
        );
    }
    if require_array && !elsewhere.is_empty() {
        bail!(
            "{} of {} units of {name} were not computed by their own array task: {}",
            elsewhere.len(),
            units.len(),
            elsewhere.join(", ")
        );
    }
    println!(
        "{name}: all {} units have their results, {} by their own array task",
        units.len(),
        units.len() - elsewhere.len()
    );
    Ok(())
}

/// After a signal stopped this task's unit at a checkpoint (`interrupted`, an
/// [`crate::interrupt::Interrupted`]): requeues the task with `scontrol requeue`, unless
/// it was requeued `max_requeues` times already (`SLURM_RESTART_COUNT`), in which case
/// the task ends with an error (exit status 1) that says how to go on.
pub fn requeue_self(interrupted: anyhow::Error, max_requeues: u32, scontrol: &str) -> Result<()> {
    // A task that is not requeued failed: its error no longer carries the
    // `Interrupted` that `main` would report as a signal's exit.
    let interrupted = anyhow::anyhow!("{interrupted:#}");
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let id = match (env("SLURM_ARRAY_JOB_ID"), env("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => format!("{job}_{task}"),
        _ => match env("SLURM_JOB_ID") {
            Some(job) => job,
            None => return Err(interrupted.context("not in a Slurm job: nothing to requeue")),
        },
    };
    let restarts: u32 = env("SLURM_RESTART_COUNT")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    if restarts >= max_requeues {
        return Err(interrupted.context(format!(
            "task {id} was requeued {restarts} time(s), the most allowed (--max-requeues \
             {max_requeues}): not requeued again; `nas slurm submit` goes on from the checkpoint"
        )));
    }
    let out = Command::new(scontrol)
        .args(["requeue", &id])
        .output()
        .with_context(|| format!("running {scontrol} requeue {id}"))?;
    if !out.status.success() {
        return Err(interrupted.context(format!(
            "{scontrol} requeue {id} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    tracing::warn!(
        "{interrupted:#}; task {id} requeued ({} of at most {max_requeues})",
        restarts + 1
    );
    Ok(())
}

/// The unit of array task `index` of a submission, with its configuration checked.
pub fn task(
    run: &Path,
    submission: &Path,
    index: usize,
    ui: crate::ui::Ui,
    backend: &str,
) -> Result<(Unit, Prepared)> {
    let folder = Folder {
        dir: submission.to_path_buf(),
    };
    let units = folder.read_units()?;
    let Some(unit) = units.get(index).cloned() else {
        bail!(
            "{} has {} units: no unit {index}",
            folder.units().display(),
            units.len()
        );
    };
    let mut cfg = Config::load(&folder.config())?;
    // One task trains one model itself.
    cfg.retrain.workers = 1;
    let prep = Prepared::new(cfg, crate::rundir::RunDir::new(run), ui, backend.into())?;
    tracing::info!("unit {index}: {}", unit.describe());
    Ok((unit, prep))
}

#[cfg(test)]
mod tests {
    use super::{is_gpu, parse_sacct, parse_scontrol};

    #[test]
    fn sacct_lines_give_each_tasks_end() {
        let text = "41_0|COMPLETED|0:0\n41_1|TIMEOUT|0:0\n41_2|FAILED|3:0\n\
                    41_3|CANCELLED by 0|0:15\n41_4|OUT_OF_MEMORY|0:125\n41_5|NODE_FAIL|0:0\n\
                    41_[6-8%2]|PENDING|0:0\n42|PENDING|0:0\n141_9|FAILED|1:0\n";
        let ends = parse_sacct("41", text);
        let said: Vec<(usize, String)> = ends.iter().map(|(i, e)| (*i, e.describe())).collect();
        let want = [
            (0, "completed without a result"),
            (1, "timed out"),
            (2, "failed (exit code 3)"),
            (3, "cancelled"),
            (4, "out of memory"),
            (5, "node failure"),
            (6, "pending"),
            (7, "pending"),
            (8, "pending"),
        ]
        .map(|(i, s)| (i, s.to_string()));
        assert_eq!(said, want);
    }

    #[test]
    fn scontrol_records_give_each_tasks_end_and_requeues() {
        let text = "JobId=44 ArrayJobId=41 ArrayTaskId=2 JobName=nas-retrain UserId=root(0) \
                    JobState=FAILED Reason=NonZeroExitCode Requeue=1 Restarts=0 ExitCode=3:0\n\
                    JobId=43 ArrayJobId=41 ArrayTaskId=1 JobName=nas JobState=TIMEOUT \
                    Reason=TimeLimit Restarts=2 ExitCode=0:15\n\
                    JobId=41 ArrayJobId=41 ArrayTaskId=5-6,9%2 JobName=nas JobState=PENDING \
                    Reason=JobArrayTaskLimit Restarts=0 ExitCode=0:0\n\
                    JobId=50 ArrayJobId=49 ArrayTaskId=0 JobName=nas JobState=FAILED ExitCode=1:0\n";
        let ends = parse_scontrol("41", text);
        let said: Vec<(usize, String)> = ends.iter().map(|(i, e)| (*i, e.describe())).collect();
        let want = [
            (1, "timed out, requeued 2 times"),
            (2, "failed (exit code 3)"),
            (5, "pending"),
            (6, "pending"),
            (9, "pending"),
        ]
        .map(|(i, s)| (i, s.to_string()));
        assert_eq!(said, want);
        assert!(parse_scontrol("41", "slurm_load_jobs error: Invalid job id specified").is_empty());
    }

    #[test]
    fn gpu_resources_only_for_backends_on_a_gpu() {
        for gpu in [
            "cuda",
            "cuda:1",
            "wgpu:0",
            "wgpu:integrated:0",
            "tch:cuda:0",
        ] {
            assert!(is_gpu(gpu), "{gpu}");
        }
        for cpu in ["flex", "ndarray", "wgpu:cpu", "tch", "tch:cpu"] {
            assert!(!is_gpu(cpu), "{cpu}");
        }
    }
}
