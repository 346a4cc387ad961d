//! What each command does: resolve the configuration, check it as a whole (data, space,
//! trainings, strategies, architecture, backend) before anything is written, then run
//! the phases on the chosen backend.

use anyhow::{Context, Result, bail};
use nas_backends::{BackendSpec, BackendTask};
use nas_core::backend::NasAutodiffBackend;
use nas_core::space::{Architecture, SearchSpace};

use crate::cli::{
    AllArgs, Command, CompareArgs, DropoutArgs, EvalArgs, RunArgs, SlurmCommand, StudyCommand,
    SubmitArgs, WorkerArgs,
};
use crate::config::Config;
use crate::phases::{self, CacheWrites, Ctx, OneShot, Prepared};
use crate::records::{Evaluated, Role};
use crate::reports::Report;
use crate::rundir::RunDir;
use crate::ui::Ui;

/// What runs on the chosen backend.
enum Work {
    Run,
    Train,
    Search,
    Retrain,
    Eval {
        arch: String,
        standalone: bool,
    },
    Compare,
    DropoutStudy,
    AllStudies {
        command: String,
        publish: Option<std::path::PathBuf>,
    },
    Standalone {
        arch: String,
        role: Role,
        seed_offset: u64,
    },
}

struct Job {
    work: Work,
    prep: Prepared,
}

impl BackendTask for Job {
    type Output = Result<()>;

    fn run<B: NasAutodiffBackend>(self, device: B::Device) -> Result<()> {
        // The device works: now the run directory may be written (a worker leaves the
        // saved configuration, which it read, as it is).
        let root = self.prep.run.root();
        if matches!(self.work, Work::Search | Work::Retrain | Work::Eval { .. }) && !root.exists() {
            bail!(
                "no run directory {}: run `nas train --out {0}` (or `nas run`) first",
                root.display()
            );
        }
        let _lock = if matches!(self.work, Work::Standalone { .. }) {
            None
        } else {
            Some(self.prep.run.create(&self.prep.cfg)?)
        };
        let ctx = Ctx::<B> {
            prep: self.prep,
            device,
        };
        match self.work {
            Work::Run => {
                let supernet = phases::supernet(&ctx, &ctx.supernet)?;
                let mut oneshot =
                    OneShot::new(&ctx, &supernet, &ctx.supernet, CacheWrites::Append)?;
                let evaluated = search(&ctx, &mut oneshot)?;
                finish(&ctx, &mut oneshot, &evaluated)
            }
            Work::Train => {
                phases::supernet(&ctx, &ctx.supernet)?;
                let dir = ctx.run.supernet(&ctx.supernet.key);
                println!("supernet trained: {}", dir.path().display());
                Ok(())
            }
            Work::Search => {
                let supernet = phases::trained_supernet(&ctx, &ctx.supernet)?;
                let mut oneshot =
                    OneShot::new(&ctx, &supernet, &ctx.supernet, CacheWrites::Append)?;
                let evaluated = search(&ctx, &mut oneshot)?;
                let best = evaluated
                    .iter()
                    .map(|e| e.accuracy)
                    .fold(f64::NAN, f64::max);
                println!(
                    "search done: {} evaluations, best one-shot accuracy {best:.4}",
                    evaluated.len()
                );
                Ok(())
            }
            Work::Retrain => {
                let evaluated = phases::finished_search(&ctx)?;
                let supernet = phases::trained_supernet(&ctx, &ctx.supernet)?;
                let mut oneshot =
                    OneShot::new(&ctx, &supernet, &ctx.supernet, CacheWrites::Append)?;
                finish(&ctx, &mut oneshot, &evaluated)
            }
            Work::Eval { arch, standalone } => eval(&ctx, &arch, standalone),
            Work::Compare => {
                let summary =
                    phases::compare(&ctx, &ctx.supernet, ctx.cfg.compare.retrain_winners)?;
                println!("comparison: {}", summary.display());
                Ok(())
            }
            Work::Standalone {
                arch,
                role,
                seed_offset,
            } => {
                let arch = parse_arch(&ctx.space, &arch)?;
                let jobs = [phases::Job {
                    arch,
                    role,
                    seed_offset,
                }];
                phases::train_all(&ctx, &jobs)?;
                Ok(())
            }
            Work::DropoutStudy => {
                let (summary, _) = phases::dropout_study(&ctx)?;
                println!("dropout study: {}", summary.display());
                Ok(())
            }
            Work::AllStudies { command, publish } => {
                let readme = phases::all_studies(&ctx, command, publish.as_deref())?;
                println!("all studies: {}", readme.display());
                Ok(())
            }
        }
    }
}

fn search<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    oneshot: &mut OneShot<B::InnerBackend>,
) -> Result<Vec<Evaluated>> {
    phases::search(ctx, oneshot, &ctx.cfg.search.strategy, ctx.cfg.seed)
}

fn eval<B: NasAutodiffBackend>(ctx: &Ctx<B>, text: &str, standalone: bool) -> Result<()> {
    let arch = parse_arch(&ctx.space, text)?;
    let supernet = phases::trained_supernet(ctx, &ctx.supernet)?;
    let mut oneshot = OneShot::new(ctx, &supernet, &ctx.supernet, CacheWrites::Append)?;
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
        let s = match phases::retrain_one(ctx, &mut oneshot, &arch, Role::User)? {
            Ok(r) => r.standalone,
            Err(f) => bail!("the stand-alone training failed: {}", f.reason),
        };
        println!(
            "stand-alone       validation {:.4}, test {:.4}",
            s.validation.accuracy, s.test.accuracy
        );
    }
    Ok(())
}

fn finish<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    oneshot: &mut OneShot<B::InnerBackend>,
    evaluated: &[Evaluated],
) -> Result<()> {
    let (retrained, failed) = phases::retrain(ctx, oneshot, evaluated)?;
    let mut report = Report::new(
        ctx.backend.clone(),
        ctx.cfg.seed,
        ctx.cfg.search.strategy.clone(),
        ctx.supernet.key.clone(),
        evaluated,
        retrained,
        failed.clone(),
    )
    .with_context(|| match failed.first() {
        Some(f) => format!(
            "every stand-alone training failed ({}; the first: {} of {})",
            failed.len(),
            f.reason,
            f.arch
        ),
        None => "nothing was retrained (retrain.top_k and retrain.random_k are 0)".into(),
    })?;
    report.config_hash = crate::rundir::key_of(&ctx.cfg);
    let scores: Vec<f64> = evaluated.iter().map(|e| e.accuracy).collect();
    report.warnings =
        crate::reports::one_shot_warnings(&scores, ctx.space.classes, ctx.data.validation.len());
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    let summary = report.write(&ctx.run, evaluated)?;
    let b = &report.best;
    let s = &b.standalone;
    println!("best architecture: {}", s.arch);
    println!(
        "  test accuracy {:.4} (stand-alone validation {:.4}, one-shot {:.4}); {} parameters, {} multiply-adds",
        s.test.accuracy, s.validation.accuracy, b.one_shot.accuracy, s.stats.params, s.stats.macs
    );
    println!(
        "one-shot vs stand-alone over the uniformly sampled architectures: {}",
        report.correlation.text()
    );
    if report.correlation.n < crate::reports::run::FEW {
        println!(
            "  (n = {}: too few to tell any correlation from noise; retrain.random_k = 30 or more measures it)",
            report.correlation.n
        );
    }
    println!("report: {}", summary.display());
    Ok(())
}

/// An architecture given as text or JSON, checked against `space`.
fn parse_arch(space: &SearchSpace, text: &str) -> Result<Architecture> {
    let parsed = if text.trim_start().starts_with('{') {
        Architecture::from_json(space, text.trim())
    } else {
        space.parse(text.trim())
    };
    parsed.context("invalid architecture")
}

/// The configuration of `args`, checked as a whole with its data loaded; nothing is
/// written yet.
fn prepare(
    args: &RunArgs,
    ui: Ui,
    edit: impl FnOnce(&mut Config) -> Result<()>,
) -> Result<(BackendSpec, Prepared)> {
    let spec: BackendSpec = args.backend.parse()?;
    let run = RunDir::new(&args.out);
    let saved = run.saved_config()?;
    let mut cfg = args.config.resolve(saved.as_ref())?;
    edit(&mut cfg)?;
    let prep = Prepared::new(cfg, run, ui, args.backend.clone())?;
    Ok((spec, prep))
}

fn launch(spec: BackendSpec, work: Work, prep: Prepared) -> Result<()> {
    tracing::info!("backend {spec}");
    nas_backends::run(spec, Job { work, prep })?
}

fn launch_task(spec: BackendSpec, task: phases::UnitTask) -> Result<()> {
    tracing::info!("backend {spec}");
    nas_backends::run(spec, task)?
}

fn submit_command(args: &SubmitArgs, ui: Ui) -> Result<()> {
    let run = &args.dropout.run;
    if args.phase != phases::Phase::Study && !run.out.exists() {
        bail!(
            "no run directory {}: run `nas train --out {0}` first{}",
            run.out.display(),
            if args.phase == phases::Phase::Retrain {
                ", then `nas search`"
            } else {
                ""
            }
        );
    }
    let (_spec, prep) = prepare(run, ui, |cfg| {
        dropout_options(&args.dropout, cfg);
        *cfg = Config::from_table(toml::Table::try_from(&*cfg)?)?;
        Ok(())
    })?;
    // The configuration is saved (under the lock) as for any command on the directory;
    // the tasks read the copy in the submission folder.
    let lock = prep.run.create(&prep.cfg)?;
    let options = crate::slurm::JobOptions {
        partition: args.partition.clone(),
        gres: args.gres.clone(),
        time: args.time.clone(),
        signal_margin: args.signal_margin,
        max_requeues: args.max_requeues,
        array_limit: args.array_limit,
        cpus_per_task: args.cpus_per_task,
        mem: args.mem.clone(),
        extra: args.sbatch_options.clone(),
        merge: args.merge,
        merge_compute_missing: args.merge_compute_missing,
        dry_run: args.dry_run,
        sbatch: args.sbatch.clone(),
    };
    crate::slurm::submit(&prep, args.phase, &options, lock)?;
    Ok(())
}

fn phase(args: &RunArgs, ui: Ui, work: Work) -> Result<()> {
    let (spec, prep) = prepare(args, ui, |_| Ok(()))?;
    launch(spec, work, prep)
}

fn eval_command(args: &EvalArgs, ui: Ui) -> Result<()> {
    let text = match (&args.arch, &args.arch_file) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        (None, None) => bail!("give --arch or --arch-file"),
    };
    let (spec, prep) = prepare(&args.run, ui, |_| Ok(()))?;
    parse_arch(&prep.space, &text)?;
    let work = Work::Eval {
        arch: text,
        standalone: args.standalone,
    };
    launch(spec, work, prep)
}

fn worker_command(args: &WorkerArgs, ui: Ui) -> Result<()> {
    let run = RunDir::new(&args.out);
    let Some(mut cfg) = run.saved_config()? else {
        bail!("{} has no saved configuration", args.out.display());
    };
    // A worker trains one model itself.
    cfg.retrain.workers = 1;
    let prep = Prepared::new(cfg, run, ui, args.backend.clone())?;
    let work = Work::Standalone {
        arch: args.arch.clone(),
        role: args.role,
        seed_offset: args.seed_offset,
    };
    launch(args.backend.parse()?, work, prep)
}

/// `--rates` / `--archs` / `--select-archs` into the configuration used (and saved).
fn dropout_options(args: &DropoutArgs, cfg: &mut Config) {
    if !args.rates.is_empty() {
        cfg.study.rates = args.rates.clone();
    }
    if let Some(n) = args.archs {
        cfg.study.archs = n;
    }
    if let Some(n) = args.select_archs {
        cfg.study.select_archs = n;
    }
}

/// `--strategies` / `--seeds` into the configuration used (and saved).
fn compare_options(strategies: &[String], seeds: Option<usize>, cfg: &mut Config) -> Result<()> {
    if !strategies.is_empty() {
        cfg.compare.strategies = strategies.to_vec();
    }
    if let Some(n) = seeds {
        if n == 0 {
            bail!("--seeds must be at least 1");
        }
        cfg.compare.seeds = n;
    }
    Ok(())
}

fn dropout_command(args: &DropoutArgs, ui: Ui) -> Result<()> {
    let (spec, prep) = prepare(&args.run, ui, |cfg| {
        dropout_options(args, cfg);
        *cfg = Config::from_table(toml::Table::try_from(&*cfg)?)?;
        Ok(())
    })?;
    launch(spec, Work::DropoutStudy, prep)
}

fn all_command(args: &AllArgs, ui: Ui) -> Result<()> {
    let (spec, prep) = prepare(&args.dropout.run, ui, |cfg| {
        dropout_options(&args.dropout, cfg);
        compare_options(&args.strategies, args.seeds, cfg)?;
        *cfg = Config::from_table(toml::Table::try_from(&*cfg)?)?;
        Ok(())
    })?;
    let work = Work::AllStudies {
        command: crate::reports::provenance::command_line(),
        publish: args.publish.clone(),
    };
    launch(spec, work, prep)
}

fn compare_command(args: &CompareArgs, ui: Ui) -> Result<()> {
    let (spec, prep) = prepare(&args.run, ui, |cfg| {
        compare_options(&args.strategies, args.seeds, cfg)?;
        cfg.compare.retrain_winners |= args.retrain_winners;
        *cfg = Config::from_table(toml::Table::try_from(&*cfg)?)?;
        Ok(())
    })?;
    launch(spec, Work::Compare, prep)
}

/// Runs one command.
pub fn run(command: Command, ui: Ui) -> Result<()> {
    match command {
        Command::Strategies => {
            for e in nas_core::strategy::registry()? {
                println!("{:<12} {}", e.name, e.description);
                println!("{:<12} defaults: {}", "", (e.default_config)());
            }
            Ok(())
        }
        Command::Backends => {
            for (i, k) in nas_backends::available().iter().enumerate() {
                let note = k.devices();
                println!(
                    "{:<8} {note}{}",
                    k.name(),
                    if i == 0 { " (default)" } else { "" }
                );
            }
            Ok(())
        }
        Command::Space(args) => show_space(&args.resolve(None)?),
        Command::Config(args) => {
            // The checks that need no data: the space, both trainings, every strategy.
            let cfg = args.resolve(None)?;
            cfg.space.validate().context("invalid [space]")?;
            cfg.supernet.validate().context("invalid [supernet]")?;
            cfg.retrain
                .train
                .validate()
                .context("invalid [retrain.train]")?;
            for warning in cfg.check_strategies(&cfg.space)? {
                eprintln!("warning: {warning}");
            }
            print!("{}", cfg.to_toml()?);
            Ok(())
        }
        Command::Run(args) => phase(&args, ui, Work::Run),
        Command::Train(args) => phase(&args, ui, Work::Train),
        Command::Search(args) => phase(&args, ui, Work::Search),
        Command::Retrain(args) => phase(&args, ui, Work::Retrain),
        Command::Eval(args) => eval_command(&args, ui),
        Command::Compare(args) => compare_command(&args, ui),
        Command::Study(StudyCommand::Dropout(args)) => dropout_command(&args, ui),
        Command::Study(StudyCommand::All(args)) => all_command(&args, ui),
        Command::StandaloneWorker(args) => worker_command(&args, ui),
        Command::Slurm(SlurmCommand::Submit(args)) => submit_command(&args, ui),
        Command::Slurm(SlurmCommand::Status(args)) => crate::slurm::status(&args.out, ui, "flex"),
        Command::Slurm(SlurmCommand::Check(args)) => crate::slurm::check(
            &args.out,
            args.submission.as_deref(),
            args.require_array,
            ui,
        ),
        Command::Slurm(SlurmCommand::Cancel(args)) => {
            crate::slurm::cancel(&args.out, args.submission.as_deref(), &args.scancel)
        }
        Command::Slurm(SlurmCommand::Task(args)) => {
            // Slurm's warning before the time limit may come at any time: never let it
            // end the task by its default action.
            crate::interrupt::install();
            let spec: BackendSpec = args.backend.parse()?;
            let (unit, prep) =
                crate::slurm::task(&args.out, &args.submission, args.index, ui, &args.backend)?;
            let done = launch_task(spec, phases::UnitTask { unit, prep });
            match done {
                // Only Slurm's warning before the time limit requeues the task: SIGTERM
                // is also what `scancel` and the limit itself send.
                Err(e)
                    if e.downcast_ref::<crate::interrupt::Interrupted>()
                        .is_some_and(|i| crate::interrupt::is_time_limit_warning(i.signal)) =>
                {
                    crate::slurm::requeue_self(e, args.max_requeues, &args.scontrol)
                }
                other => other,
            }
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
