//! `nas`: one-shot architecture search end to end (Bender et al., ICML 2018), any
//! registered strategy on any compiled backend.
//!
//! ```text
//! nas run --quick                      # every phase on the embedded data, about a minute
//! nas run --out runs/a --config my.toml --set supernet.epochs=10 --backend cuda:0
//! nas compare --out runs/a --strategies random,evolution --seeds 5
//! ```

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, Parser, Subcommand};
use nas_backends::{BackendSpec, BackendTask};
use nas_core::space::Architecture;

// Every strategy this binary offers registers itself when its crate is linked.
use nas_strategy_evolution as _;
use nas_strategy_random as _;
use nas_strategy_reinforce as _;

mod compare;
mod config;
mod pipeline;
mod report;
mod store;
mod ui;

use config::{Config, Sources};
use pipeline::Ctx;
use ui::Ui;

#[derive(Parser, Debug)]
#[command(
    name = "nas",
    version,
    about = "One-shot neural architecture search: train a supernet, search, retrain, report"
)]
struct Cli {
    /// No progress bars, warnings and errors only.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// More log output (-v: debug).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    /// List the strategies this binary has, with their default settings.
    Strategies,
    /// List the backends this binary has.
    Backends,
    /// Show the search space: size and decisions.
    Space(ConfigArgs),
    /// Print the resolved configuration (defaults, preset, file, overrides) as TOML.
    Config(ConfigArgs),
}

#[derive(Args, Debug, Clone)]
struct ConfigArgs {
    /// A TOML configuration file (see `configs/default.toml`).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Override one setting, e.g. `--set supernet.epochs=3` (repeatable; TOML values).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// The small preset: every phase in about a minute on 2 cores.
    #[arg(long)]
    quick: bool,
}

impl ConfigArgs {
    fn given(&self) -> bool {
        self.config.is_some() || !self.overrides.is_empty() || self.quick
    }
    fn resolve(&self) -> Result<Config> {
        Config::resolve(&Sources {
            quick: self.quick,
            file: self.config.as_deref(),
            overrides: &self.overrides,
        })
    }
}

#[derive(Args, Debug, Clone)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The run directory (created if missing; an existing one is resumed).
    #[arg(long, short, default_value = "runs/default")]
    out: PathBuf,
    /// Backend and device, e.g. `flex`, `ndarray`, `wgpu:0`, `cuda:1` (`nas backends`).
    #[arg(long, short, default_value = "flex")]
    backend: String,
}

#[derive(Args, Debug, Clone)]
struct EvalArgs {
    #[command(flatten)]
    run: RunArgs,
    /// The architecture in text form (`N=...;R=...`).
    #[arg(
        long,
        conflicts_with = "arch_file",
        required_unless_present = "arch_file"
    )]
    arch: Option<String>,
    /// A file holding the architecture as JSON or text.
    #[arg(long)]
    arch_file: Option<PathBuf>,
    /// Also retrain it stand-alone and evaluate it on the test images.
    #[arg(long)]
    standalone: bool,
}

#[derive(Args, Debug, Clone)]
struct CompareArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Strategies, comma separated (default: `compare.strategies`, or all).
    #[arg(long, value_delimiter = ',')]
    strategies: Vec<String>,
    /// Seeds per strategy (default: `compare.seeds`).
    #[arg(long)]
    seeds: Option<usize>,
    /// Retrain each run's winner stand-alone.
    #[arg(long)]
    retrain_winners: bool,
}

/// What runs on the chosen backend.
enum Work {
    Run,
    Train,
    Search,
    Retrain,
    Eval {
        arch: Architecture,
        standalone: bool,
    },
    Compare,
}

struct Job {
    work: Work,
    cfg: Config,
    dir: PathBuf,
    ui: Ui,
    backend: String,
}

impl BackendTask for Job {
    type Output = Result<()>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<()> {
        let ctx = Ctx::<B>::new(self.cfg, self.dir, device, self.ui, self.backend)?;
        match self.work {
            Work::Run => {
                let supernet = pipeline::supernet(&ctx)?;
                let mut oneshot = pipeline::OneShot::new(&ctx, &supernet)?;
                let evaluated = run_search(&ctx, &mut oneshot)?;
                finish(&ctx, &mut oneshot, &evaluated)
            }
            Work::Train => {
                pipeline::supernet(&ctx)?;
                println!("supernet trained: {}", ctx.dir.join("supernet").display());
                Ok(())
            }
            Work::Search => {
                let supernet = trained_supernet(&ctx)?;
                let mut oneshot = pipeline::OneShot::new(&ctx, &supernet)?;
                let evaluated = run_search(&ctx, &mut oneshot)?;
                let best = evaluated
                    .iter()
                    .map(|e| e.accuracy)
                    .fold(f64::NAN, f64::max);
                println!(
                    "search done: {} evaluations, best one-shot accuracy {best:.4}; log in {}",
                    evaluated.len(),
                    ctx.dir.join("search").display()
                );
                Ok(())
            }
            Work::Retrain => {
                let supernet = trained_supernet(&ctx)?;
                let mut oneshot = pipeline::OneShot::new(&ctx, &supernet)?;
                let log = ctx.dir.join("search/strategy.json");
                let done = store::read_json::<serde_json::Value>(&log)?
                    .and_then(|v| v.get("told").and_then(|t| t.as_u64()))
                    .unwrap_or(0);
                if (done as usize) < ctx.cfg.search.budget {
                    bail!(
                        "the search in {} is not finished ({done} of {} evaluations): run `nas search` first",
                        ctx.dir.display(),
                        ctx.cfg.search.budget
                    );
                }
                let evaluated = run_search(&ctx, &mut oneshot)?;
                finish(&ctx, &mut oneshot, &evaluated)
            }
            Work::Eval { arch, standalone } => {
                let supernet = trained_supernet(&ctx)?;
                let mut oneshot = pipeline::OneShot::new(&ctx, &supernet)?;
                let m = oneshot.score(&arch)?;
                let stats = nas_core::stats::ModelStats::of(&ctx.space, &arch, &ctx.layers)?;
                println!("architecture      {arch}");
                println!("parameters        {}", stats.params);
                println!("multiply-adds     {}", stats.macs);
                println!(
                    "one-shot accuracy {:.4} (loss {:.4}, {} validation images)",
                    m.accuracy, m.loss, m.examples
                );
                if standalone {
                    let s = pipeline::retrain_one(&ctx, &mut oneshot, &arch, "user")?;
                    println!(
                        "stand-alone       validation {:.4}, test {:.4}",
                        s.validation.accuracy, s.test.accuracy
                    );
                    println!(
                        "saved             {}",
                        ctx.dir.join(format!("standalone/{}.json", s.key)).display()
                    );
                }
                Ok(())
            }
            Work::Compare => compare::compare(&ctx),
        }
    }
}

fn run_search<B: AutodiffBackend>(
    ctx: &Ctx<B>,
    oneshot: &mut pipeline::OneShot<B::InnerBackend>,
) -> Result<Vec<pipeline::Evaluated>> {
    let dir = ctx.dir.join("search");
    pipeline::search(
        ctx,
        oneshot,
        &ctx.cfg.search.strategy.clone(),
        ctx.cfg.seed,
        &dir,
    )
}

fn finish<B: AutodiffBackend>(
    ctx: &Ctx<B>,
    oneshot: &mut pipeline::OneShot<B::InnerBackend>,
    evaluated: &[pipeline::Evaluated],
) -> Result<()> {
    let retrained = pipeline::retrain(ctx, oneshot, evaluated)?;
    let report = report::Report::new(
        ctx.backend.clone(),
        ctx.cfg.seed,
        ctx.cfg.search.strategy.clone(),
        evaluated,
        retrained,
    )
    .context("nothing was retrained (retrain.top_k and retrain.random_k are 0)")?;
    report::write_run(&ctx.dir, &report, evaluated)?;
    let b = &report.best;
    println!("best architecture: {}", b.arch);
    println!(
        "  test accuracy {:.4} (stand-alone validation {:.4}, one-shot {:.4}); {} parameters, {} multiply-adds",
        b.test.accuracy, b.validation.accuracy, b.one_shot.accuracy, b.stats.params, b.stats.macs
    );
    let f = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
    println!(
        "one-shot vs stand-alone over {} architectures: Spearman {}, Kendall {}",
        report.correlation.n,
        f(report.correlation.spearman),
        f(report.correlation.kendall)
    );
    println!("report: {}", ctx.dir.join("summary.md").display());
    Ok(())
}

/// The supernet of a run whose training finished.
fn trained_supernet<B: AutodiffBackend>(ctx: &Ctx<B>) -> Result<nas_core::Supernet<B>> {
    let p: Option<pipeline::SupernetProgress> =
        store::read_json(&ctx.dir.join("supernet/progress.json"))?;
    match p {
        Some(p) if p.epochs_done >= ctx.cfg.supernet.epochs => pipeline::supernet(ctx),
        Some(p) => bail!(
            "the supernet in {} is trained for {} of {} epochs: run `nas train` (or `nas run`) to finish it",
            ctx.dir.display(),
            p.epochs_done,
            ctx.cfg.supernet.epochs
        ),
        None => bail!(
            "no trained supernet in {}: run `nas train --out {}` first",
            ctx.dir.display(),
            ctx.dir.display()
        ),
    }
}

/// Key paths whose values differ between two TOML tables.
fn differences(a: &toml::Table, b: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (a.get(k), b.get(k)) {
            (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                differences(x, y, &path, out)
            }
            (x, y) if x != y => out.push(path),
            _ => {}
        }
    }
}

/// The configuration of a run directory: the saved one when no configuration is given,
/// otherwise the given one, which must match the saved one (except `[compare]`).
fn prepare(args: &RunArgs) -> Result<Config> {
    let saved_path = args.out.join("config.toml");
    let saved = if saved_path.exists() {
        Some(Config::load(&saved_path)?)
    } else {
        None
    };
    let cfg = match (&saved, args.config.given()) {
        (Some(s), false) => s.clone(),
        _ => args.config.resolve()?,
    };
    if let Some(s) = &saved {
        let (mut a, mut b) = (toml::Table::try_from(s)?, toml::Table::try_from(&cfg)?);
        a.remove("compare");
        b.remove("compare");
        let mut diff = Vec::new();
        differences(&a, &b, "", &mut diff);
        if !diff.is_empty() {
            bail!(
                "{} was made with a different configuration ({} differ{}); use another --out, or the same settings",
                args.out.display(),
                diff.join(", "),
                if diff.len() == 1 { "s" } else { "" }
            );
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the run directory {}", args.out.display()))?;
    store::write_atomic(&saved_path, cfg.to_toml()?.as_bytes())?;
    Ok(cfg)
}

fn read_arch(args: &EvalArgs, cfg: &Config) -> Result<Architecture> {
    let text = match (&args.arch, &args.arch_file) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        (None, None) => bail!("give --arch or --arch-file"),
    };
    let space = cfg.space.clone();
    let parsed = if text.trim_start().starts_with('{') {
        Architecture::from_json(&space, text.trim())
    } else {
        space.parse(text.trim())
    };
    parsed.context("invalid architecture")
}

fn init_logs(cli: &Cli) {
    let level = if cli.quiet {
        "warn"
    } else if cli.verbose > 0 {
        "debug"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NAS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("nas={level},warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .init();
}

fn backend_run(spec: BackendSpec, job: Job) -> Result<()> {
    tracing::info!("backend {spec}");
    nas_backends::run(spec, job)?
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logs(&cli);
    match real_main(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn job(work: Work, args: &RunArgs, cfg: Config, ui: Ui) -> Job {
    Job {
        work,
        cfg,
        dir: args.out.clone(),
        ui,
        backend: args.backend.clone(),
    }
}

fn real_main(cli: Cli) -> Result<()> {
    let ui = Ui { quiet: cli.quiet };
    match cli.command {
        Command::Strategies => {
            for e in nas_core::strategy::registry() {
                println!("{:<12} {}", e.name, e.description);
                println!("{:<12} defaults: {}", "", (e.default_config)());
            }
            Ok(())
        }
        Command::Backends => {
            for (i, k) in nas_backends::available().iter().enumerate() {
                let note = if k.is_cpu() {
                    "CPU"
                } else {
                    "GPU, devices :0, :1, ..."
                };
                println!(
                    "{:<8} {note}{}",
                    k.name(),
                    if i == 0 { " (default)" } else { "" }
                );
            }
            Ok(())
        }
        Command::Space(args) => {
            let cfg = args.resolve()?;
            show_space(&cfg)
        }
        Command::Config(args) => {
            print!("{}", args.resolve()?.to_toml()?);
            Ok(())
        }
        Command::Run(args) => {
            let spec = args.backend.parse()?;
            let cfg = prepare(&args)?;
            backend_run(spec, job(Work::Run, &args, cfg, ui))
        }
        Command::Train(args) => {
            let spec = args.backend.parse()?;
            let cfg = prepare(&args)?;
            backend_run(spec, job(Work::Train, &args, cfg, ui))
        }
        Command::Search(args) => {
            let spec = args.backend.parse()?;
            let cfg = prepare(&args)?;
            backend_run(spec, job(Work::Search, &args, cfg, ui))
        }
        Command::Retrain(args) => {
            let spec = args.backend.parse()?;
            let cfg = prepare(&args)?;
            backend_run(spec, job(Work::Retrain, &args, cfg, ui))
        }
        Command::Eval(args) => {
            let spec = args.run.backend.parse()?;
            let cfg = prepare(&args.run)?;
            // Parse against the space the data will give (input shape and classes do not
            // enter the architecture's text, so the configured space checks it fully).
            let arch = read_arch(&args, &cfg)?;
            let work = Work::Eval {
                arch,
                standalone: args.standalone,
            };
            backend_run(spec, job(work, &args.run, cfg, ui))
        }
        Command::Compare(args) => {
            let spec = args.run.backend.parse()?;
            let mut cfg = prepare(&args.run)?;
            if !args.strategies.is_empty() {
                for s in &args.strategies {
                    nas_core::strategy::lookup(s)?;
                }
                cfg.compare.strategies = args.strategies.clone();
            }
            if let Some(n) = args.seeds {
                if n == 0 {
                    bail!("--seeds must be at least 1");
                }
                cfg.compare.seeds = n;
            }
            cfg.compare.retrain_winners |= args.retrain_winners;
            backend_run(spec, job(Work::Compare, &args.run, cfg, ui))
        }
    }
}

fn show_space(cfg: &Config) -> Result<()> {
    let space = &cfg.space;
    space.validate().context("invalid [space]")?;
    println!(
        "stacks {}, cells per stack {}, blocks per cell {}, up to {} inputs and {} ops per block, F = {}",
        space.stacks,
        space.cells_per_stack,
        space.blocks_per_cell,
        space.max_inputs,
        space.max_ops,
        space.filters
    );
    let ops: Vec<&str> = space.ops.iter().map(|o| o.name()).collect();
    println!("operations: {}", ops.join(", "));
    println!("architectures: {}", space.size()?);
    let decisions = space.decisions();
    println!("decisions: {}", decisions.len());
    for d in decisions {
        println!("  {:<24} {} choices", d.label, d.choices);
    }
    Ok(())
}
