//! The command line (clap derive). Doc comments here are the `--help` text, so the
//! types and fields whose help comes from elsewhere carry none.
#![allow(missing_docs)]

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Sources};

#[derive(Parser, Debug)]
#[command(
    name = "nas",
    version,
    about = "One-shot neural architecture search: train a supernet, search, retrain, report"
)]
pub struct Cli {
    /// No progress bars, warnings and errors only.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log output (-v: debug).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Also write progress as JSON lines to this file, appended: one line per training
    /// step, evaluation or stand-alone training step, e.g.
    /// {"what":"supernet","pos":12,"len":40,"pid":4242}.
    #[arg(long, global = true, value_name = "FILE", env = "NAS_EVENTS")]
    pub events: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Every phase: train the supernet, search, retrain the top-k and k random
    /// architectures, write the report. Rerun to resume after an interruption.
    Run(RunArgs),
    /// Train (or resume training) the supernet only.
    Train(RunArgs),
    /// Search with the trained supernet (run `nas train` first).
    Search(RunArgs),
    /// Retrain the top-k and random architectures of a finished search, and report.
    Retrain(RunArgs),
    /// Score one architecture one-shot with the trained supernet, optionally retrain it.
    Eval(EvalArgs),
    /// Several strategies x several seeds on the same trained supernet, equal budgets.
    Compare(CompareArgs),
    /// Studies of the one-shot model against stand-alone training (docs/method.md,
    /// section 6).
    #[command(subcommand)]
    Study(StudyCommand),
    /// Hand the units of a phase (stand-alone trainings, the supernets of a study) to a
    /// Slurm cluster as a job array (docs/slurm.md).
    #[command(subcommand)]
    Slurm(SlurmCommand),
    /// One stand-alone training in a worker process (started by the harness itself).
    #[command(hide = true)]
    StandaloneWorker(WorkerArgs),
    /// List the strategies this binary has, with their default settings.
    Strategies,
    /// List the backends this binary has.
    Backends,
    /// Show the search space: size and decisions.
    Space(ConfigArgs),
    /// Print the resolved configuration (defaults, preset, file, overrides) as TOML, after
    /// the checks that need no data (space, trainings, strategy settings).
    Config(ConfigArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// A TOML configuration file (see `configs/default.toml`).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Override one setting, e.g. `--set supernet.epochs=3` (repeatable; TOML values).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// The small preset: every phase in about a minute on 2 cores.
    #[arg(long)]
    pub quick: bool,
}

impl ConfigArgs {
    /// The configuration these options give, laid over `base` (a run directory's saved
    /// configuration) or the defaults.
    pub fn resolve(&self, base: Option<&Config>) -> Result<Config> {
        if let (Some(saved), false) = (base, self.given()) {
            return Ok(saved.clone());
        }
        Config::resolve(&Sources {
            base,
            quick: self.quick,
            file: self.config.as_deref(),
            overrides: &self.overrides,
        })
    }

    fn given(&self) -> bool {
        self.config.is_some() || !self.overrides.is_empty() || self.quick
    }
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The run directory (created if missing; an existing one is resumed).
    #[arg(long, short, default_value = "runs/default")]
    pub out: PathBuf,
    /// Backend and device, e.g. `flex`, `ndarray`, `wgpu:0`, `cuda:1`, `tch:cpu` (`nas backends`).
    #[arg(long, short, default_value = "flex")]
    pub backend: String,
}

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The architecture in text form (`N=...;R=...`).
    #[arg(
        long,
        conflicts_with = "arch_file",
        required_unless_present = "arch_file"
    )]
    pub arch: Option<String>,
    /// A file holding the architecture as JSON or text.
    #[arg(long)]
    pub arch_file: Option<PathBuf>,
    /// Also retrain it stand-alone and evaluate it on the test images.
    #[arg(long)]
    pub standalone: bool,
}

#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    /// The run directory, whose saved configuration the worker uses.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub backend: String,
    /// The architecture in text form.
    #[arg(long)]
    pub arch: String,
    /// How far the training seed is moved from `retrain.train.seed`.
    #[arg(long)]
    pub seed_offset: u64,
    /// Why it is trained (for the log).
    #[arg(long)]
    pub role: crate::records::Role,
}

#[derive(Subcommand, Debug)]
pub enum StudyCommand {
    /// One supernet per path-dropout rate; the same uniformly sampled architectures
    /// scored by each and trained stand-alone once; correlations (with 95% intervals)
    /// against the rate. Rerun to resume.
    Dropout(DropoutArgs),
    /// Every study in one go: the dropout study (ranking quality with intervals, noise
    /// floor, rate sweep, KL divergence, size bias) and the strategy comparison, with one
    /// report (`RUN/study/all/README.md`: commands, commit, machine, wall time, the
    /// figures against the targets). Rerun to resume.
    All(AllArgs),
}

#[derive(Args, Debug, Clone)]
pub struct AllArgs {
    #[command(flatten)]
    pub dropout: DropoutArgs,
    /// Strategies compared, comma separated (default: `compare.strategies`, or all).
    #[arg(long, value_delimiter = ',')]
    pub strategies: Vec<String>,
    /// Seeds per compared strategy (default: `compare.seeds`).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Also copy the report, the configuration, the plots and the data into this folder
    /// (e.g. `docs/results/NAME`); files of an earlier publication are replaced, others kept.
    #[arg(long, value_name = "DIR")]
    pub publish: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct DropoutArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Path-dropout rates, comma separated (default: `study.rates`).
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<f64>,
    /// Uniformly sampled architectures the figures are reported on (default:
    /// `study.archs`).
    #[arg(long)]
    pub archs: Option<usize>,
    /// Uniformly sampled architectures, disjoint from those, on which the rate is chosen
    /// (default: `study.select_archs`; 0: choose on the reported ones).
    #[arg(long)]
    pub select_archs: Option<usize>,
}

#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Strategies, comma separated (default: `compare.strategies`, or all).
    #[arg(long, value_delimiter = ',')]
    pub strategies: Vec<String>,
    /// Seeds per strategy (default: `compare.seeds`).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Retrain each run's winner stand-alone.
    #[arg(long)]
    pub retrain_winners: bool,
}

#[derive(Subcommand, Debug)]
pub enum SlurmCommand {
    /// Submit the units of PHASE that are not done (and not queued by an earlier
    /// submission) as a job array: one array task per unit, each running this binary on
    /// the run directory, which must be on a filesystem every node sees. Prints the job
    /// id; then `nas retrain` / `nas study dropout` / `nas compare` on the run directory
    /// (or `--merge`) writes the report.
    Submit(Box<SubmitArgs>),
    /// Every submission's units: done, failed, queued or running (from `squeue`, where
    /// there is one), or not done.
    Status(StatusArgs),
    /// Whether every unit of a submission (the latest, or `--submission`) has its result,
    /// and who computed each (its array task, another job, or `local`). Fails, listing
    /// them, when any has none; with `--require-array`, also when any was computed by
    /// anyone but its own array task. The merge job runs it first.
    Check(CheckArgs),
    /// Cancel the array and merge jobs of every submission of the run directory (or of
    /// `--submission`) with `scancel`; results already written stay, and `nas slurm
    /// submit` later sends what is still missing.
    Cancel(CancelArgs),
    /// One unit of a submission (run by the array task itself).
    #[command(hide = true)]
    Task(TaskArgs),
}

#[derive(Args, Debug, Clone)]
pub struct SubmitArgs {
    /// `retrain`: the stand-alone trainings of a finished search (`nas search` first);
    /// `study`: the dropout study's supernets and stand-alone trainings; `compare`: the
    /// searches of a strategy comparison (`nas train` first).
    pub phase: crate::phases::Phase,
    #[command(flatten)]
    pub dropout: DropoutArgs,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Generic resources per task (default: `gpu:1` with a GPU backend, none with a CPU
    /// one; `--gres ''` for none).
    #[arg(long)]
    pub gres: Option<String>,
    /// Time limit per task, e.g. `2:00:00`.
    #[arg(long)]
    pub time: Option<String>,
    /// Seconds before the time limit at which Slurm signals a task (`--signal=B:USR1@S`):
    /// a supernet in training then saves a checkpoint at its current step and the task
    /// requeues itself to go on from there. 0: no signal. Slurm may signal up to a minute
    /// early.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub signal_margin: u32,
    /// How many times a task may requeue itself after such a signal; then it stops with
    /// its checkpoint saved, and a later `nas slurm submit` goes on from it.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_requeues: u32,
    /// At most this many tasks at once.
    #[arg(long)]
    pub array_limit: Option<usize>,
    /// Cores per task (also its thread count).
    #[arg(long)]
    pub cpus_per_task: Option<usize>,
    /// Memory per task, e.g. `8G`.
    #[arg(long)]
    pub mem: Option<String>,
    /// A further `#SBATCH` option, verbatim, e.g. `--sbatch-option=--account=proj` (repeatable).
    #[arg(long = "sbatch-option", value_name = "OPTION")]
    pub sbatch_options: Vec<String>,
    /// Also submit the merge (`nas retrain` / `nas study dropout` on the run directory)
    /// as a job that starts once every task succeeded. It first checks that every unit
    /// has its result (`nas slurm check`) and refuses, listing the missing ones, if any
    /// has none.
    #[arg(long)]
    pub merge: bool,
    /// With `--merge`: let the merge job compute the units that have no result itself
    /// instead of refusing.
    #[arg(long, requires = "merge")]
    pub merge_compute_missing: bool,
    /// Write the submission folder and print the job script; submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The sbatch program.
    #[arg(long, default_value = "sbatch")]
    pub sbatch: String,
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// The run directory.
    #[arg(long, short, default_value = "runs/default")]
    pub out: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct CancelArgs {
    /// The run directory.
    #[arg(long, short, default_value = "runs/default")]
    pub out: PathBuf,
    /// The submission folder (`RUN/slurm/PHASE-STAMP`); default: every submission.
    #[arg(long)]
    pub submission: Option<PathBuf>,
    /// The scancel program.
    #[arg(long, default_value = "scancel")]
    pub scancel: String,
}

#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// The run directory.
    #[arg(long, short, default_value = "runs/default")]
    pub out: PathBuf,
    /// The submission folder (`RUN/slurm/PHASE-STAMP`); default: the latest.
    #[arg(long)]
    pub submission: Option<PathBuf>,
    /// Also fail when a unit's result was computed by anyone but its own array task
    /// (the merge, a local run or another submission).
    #[arg(long)]
    pub require_array: bool,
}

#[derive(Args, Debug, Clone)]
pub struct TaskArgs {
    /// The run directory.
    #[arg(long)]
    pub out: PathBuf,
    /// The submission folder (`RUN/slurm/PHASE-STAMP`).
    #[arg(long)]
    pub submission: PathBuf,
    /// The unit (line of `units.jsonl`, from 0).
    #[arg(long)]
    pub index: usize,
    #[arg(long)]
    pub backend: String,
    /// How many times the task may requeue itself after a signal (`SLURM_RESTART_COUNT`
    /// counts them).
    #[arg(long, default_value_t = 0)]
    pub max_requeues: u32,
    /// The scontrol program (requeues the task).
    #[arg(long, default_value = "scontrol")]
    pub scontrol: String,
}
