//! The phases of a run, generic over the backend: train the supernet, search, retrain,
//! report. Each phase writes its results into the run directory as it goes and, when
//! rerun, continues from what is there.
//!
//! ```text
//! RUN/config.toml                   the resolved configuration
//! RUN/supernet/progress.json        epochs done, checkpoint file names, per-epoch losses
//! RUN/supernet/model-eNNNN.mpk      supernet weights after epoch NNNN (burn recorder)
//! RUN/supernet/optim-eNNNN.mpk      optimizer state after epoch NNNN
//! RUN/search/evaluated.jsonl|csv    every evaluated architecture and its one-shot score
//! RUN/search/strategy.json          strategy state after the last told evaluation
//! RUN/standalone/KEY.json           one retrained architecture (KEY hashes arch + setup)
//! RUN/report.json, RUN/summary.md   the results; RUN/plots/*.svg
//! ```

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::{AutodiffModule, Module};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use nas_core::data::Splits;
use nas_core::eval::{Evaluator, Metrics, OneShotEvaluator, predict_standalone};
use nas_core::ops::{LayerConfig, NormMode};
use nas_core::space::{Architecture, SearchSpace};
use nas_core::standalone::StandaloneModel;
use nas_core::stats::ModelStats;
use nas_core::supernet::Supernet;
use nas_core::train::{
    Checkpoint, EpochInfo, Resume, StandaloneTrainConfig, TrainHook, resume_supernet,
    train_standalone,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::store::{JsonLog, key_of, read_json, seed_of, write_atomic, write_json};
use crate::ui::{StepBar, Ui};

type Rec = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// What every phase needs.
pub struct Ctx<B: AutodiffBackend> {
    /// The resolved configuration.
    pub cfg: Config,
    /// The run directory.
    pub dir: PathBuf,
    /// The device.
    pub device: B::Device,
    /// The data splits.
    pub data: Splits,
    /// The search space, with the data's input shape and classes.
    pub space: SearchSpace,
    /// Layer settings.
    pub layers: LayerConfig,
    /// Progress bars.
    pub ui: Ui,
    /// The backend's name, for the report.
    pub backend: String,
}

impl<B: AutodiffBackend> Ctx<B> {
    /// Loads the data and fixes the space to it.
    pub fn new(
        cfg: Config,
        dir: PathBuf,
        device: B::Device,
        ui: Ui,
        backend: String,
    ) -> Result<Self> {
        let start = Instant::now();
        let data = cfg.data.load().context("loading the data")?;
        let mut space = cfg.space.clone();
        space.input_shape = data.train.shape;
        space.classes = data.train.classes;
        space.validate().context("invalid [space]")?;
        let layers = cfg.layers.to_core();
        tracing::info!(
            "data: {} train / {} validation / {} test images of {:?} ({} classes), loaded in {:.1}s",
            data.train.len(),
            data.validation.len(),
            data.test.len(),
            space.input_shape,
            space.classes,
            start.elapsed().as_secs_f64()
        );
        Ok(Ctx {
            cfg,
            dir,
            device,
            data,
            space,
            layers,
            ui,
            backend,
        })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

/// Supernet training progress, saved after every epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupernetProgress {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Epochs of the run.
    pub epochs: usize,
    /// Model checkpoint file (in `supernet/`).
    pub model_file: String,
    /// Optimizer checkpoint file (in `supernet/`).
    pub optimizer_file: String,
    /// Per-epoch figures so far.
    pub history: Vec<EpochInfo>,
    /// Seconds spent training, over all sessions.
    pub seconds: f64,
}

/// Saves a checkpoint after each epoch: weights and optimizer state first, then the
/// progress file that names them (atomically), then older checkpoints are removed.
struct SupernetSaver {
    dir: PathBuf,
    progress: SupernetProgress,
    started: Instant,
    seconds_before: f64,
    bar: StepBar,
    error: Option<anyhow::Error>,
}

impl SupernetSaver {
    fn save<B: AutodiffBackend>(&mut self, ck: Checkpoint<'_, Supernet<B>>) -> Result<()> {
        let model = Rec::new()
            .record(ck.model.clone().into_record(), ())
            .context("encoding the supernet")?;
        let model_file = format!("model-e{:04}.mpk", ck.epochs_done);
        let optimizer_file = format!("optim-e{:04}.mpk", ck.epochs_done);
        write_atomic(&self.dir.join(&model_file), &model)?;
        write_atomic(&self.dir.join(&optimizer_file), &ck.optimizer)?;
        let old = [
            self.progress.model_file.clone(),
            self.progress.optimizer_file.clone(),
        ];
        self.progress.epochs_done = ck.epochs_done;
        self.progress.model_file = model_file;
        self.progress.optimizer_file = optimizer_file;
        self.progress.seconds = self.seconds_before + self.started.elapsed().as_secs_f64();
        write_json(&self.dir.join("progress.json"), &self.progress)?;
        for f in old.iter().filter(|f| !f.is_empty()) {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        tracing::info!("supernet checkpoint after epoch {}", ck.epochs_done);
        Ok(())
    }
}

impl<B: AutodiffBackend> TrainHook<Supernet<B>> for SupernetSaver {
    fn on_step(&mut self, info: &nas_core::train::StepInfo) -> ControlFlow<()> {
        <StepBar as TrainHook<Supernet<B>>>::on_step(&mut self.bar, info)
    }
    fn on_epoch(&mut self, info: &EpochInfo, m: &Supernet<B>) -> ControlFlow<()> {
        self.progress.history.push(info.clone());
        self.bar.on_epoch(info, m)
    }
    fn wants_checkpoint(&self) -> bool {
        true
    }
    fn on_checkpoint(&mut self, ck: Checkpoint<'_, Supernet<B>>) -> ControlFlow<()> {
        match self.save(ck) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

fn load_record<B: Backend, M: Module<B>>(model: M, path: &Path, device: &B::Device) -> Result<M> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let record = Rec::new()
        .load(bytes, device)
        .with_context(|| format!("{} is not a checkpoint of this model", path.display()))?;
    Ok(model.load_record(record))
}

/// Phase 1: the trained supernet, trained now, resumed from its last checkpoint, or
/// loaded when training finished before.
pub fn supernet<B: AutodiffBackend>(ctx: &Ctx<B>) -> Result<Supernet<B>> {
    let dir = ctx.path("supernet");
    let cfg = {
        let mut c = ctx.cfg.supernet.clone();
        c.augment = ctx.data.augment;
        c
    };
    B::seed(&ctx.device, ctx.cfg.seed);
    let fresh = Supernet::<B>::new(&ctx.space, &ctx.layers, &ctx.device)
        .context("building the supernet")?;
    let progress: Option<SupernetProgress> = read_json(&dir.join("progress.json"))?;
    let (model, resume, progress) = match progress {
        Some(p) => {
            let model = load_record(fresh, &dir.join(&p.model_file), &ctx.device)?;
            if p.epochs_done >= cfg.epochs {
                tracing::info!(
                    "supernet: trained before ({} epochs), loaded",
                    p.epochs_done
                );
                return Ok(model);
            }
            let optimizer = std::fs::read(dir.join(&p.optimizer_file))
                .with_context(|| format!("reading {}", dir.join(&p.optimizer_file).display()))?;
            tracing::info!(
                "supernet: resuming after epoch {} of {}",
                p.epochs_done,
                cfg.epochs
            );
            let resume = Resume {
                epochs_done: p.epochs_done,
                optimizer,
            };
            (model, Some(resume), p)
        }
        None => {
            let p = SupernetProgress {
                epochs_done: 0,
                epochs: cfg.epochs,
                model_file: String::new(),
                optimizer_file: String::new(),
                history: Vec::new(),
                seconds: 0.0,
            };
            (fresh, None, p)
        }
    };
    let steps_per_epoch = ctx.data.train.len() / cfg.batch_size.max(1);
    let bar = ctx.ui.bar(steps_per_epoch * cfg.epochs, "supernet");
    bar.set_position((steps_per_epoch * progress.epochs_done) as u64);
    tracing::info!(
        "supernet: {} epochs of {} steps (batch {} in {} ghost batches, r_max {})",
        cfg.epochs,
        steps_per_epoch,
        cfg.batch_size,
        cfg.ghost_batches,
        cfg.drop_path.r_max
    );
    let mut saver = SupernetSaver {
        dir,
        seconds_before: progress.seconds,
        progress,
        started: Instant::now(),
        bar: StepBar { bar },
        error: None,
    };
    let (model, _) = resume_supernet(model, &ctx.data.train, &cfg, resume.as_ref(), &mut saver)
        .context("training the supernet")?;
    saver.bar.bar.finish_and_clear();
    if let Some(e) = saver.error {
        return Err(e.context("saving a supernet checkpoint"));
    }
    Ok(model)
}

/// One evaluated architecture in a search log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluated {
    /// Position in the search, from 0.
    pub index: usize,
    /// The architecture in text form.
    pub arch: String,
    /// One-shot accuracy on the validation images.
    pub accuracy: f64,
    /// One-shot mean cross-entropy.
    pub loss: f64,
}

/// The best evaluation of a search: highest one-shot accuracy, the earliest on ties.
pub fn best_of(evaluated: &[Evaluated]) -> Option<&Evaluated> {
    evaluated.iter().max_by(|a, b| {
        a.accuracy
            .total_cmp(&b.accuracy)
            .then(b.index.cmp(&a.index))
    })
}

/// The saved state of a search.
#[derive(Debug, Serialize, Deserialize)]
struct SearchState {
    strategy: String,
    seed: u64,
    told: usize,
    state: serde_json::Value,
}

/// One-shot scoring with a memo: the score of an architecture is a deterministic
/// function of the supernet and the validation images.
pub struct OneShot<B: Backend> {
    eval: OneShotEvaluator<B>,
    memo: HashMap<String, Metrics>,
}

impl<B: Backend> OneShot<B> {
    /// Scores on the validation split.
    pub fn new<A: AutodiffBackend<InnerBackend = B>>(
        ctx: &Ctx<A>,
        supernet: &Supernet<A>,
    ) -> Result<Self> {
        let inner = supernet.valid();
        let device = inner
            .devices()
            .first()
            .cloned()
            .context("the supernet has no parameters")?;
        let eval = OneShotEvaluator::new(
            inner,
            ctx.data.validation.clone(),
            ctx.cfg.search.eval_batch,
            device,
        )
        .context("setting up one-shot evaluation")?;
        Ok(OneShot {
            eval,
            memo: HashMap::new(),
        })
    }

    /// The one-shot metrics of `arch`.
    pub fn score(&mut self, arch: &Architecture) -> Result<Metrics> {
        let key = arch.to_string();
        if let Some(m) = self.memo.get(&key) {
            return Ok(m.clone());
        }
        let m = self.eval.evaluate(arch).context("one-shot evaluation")?;
        self.memo.insert(key, m.clone());
        Ok(m)
    }
}

/// Phase 2: a search with `strategy` and `seed` under the configured budget, logged in
/// `dir`. Returns every evaluation in order.
pub fn search<B: AutodiffBackend>(
    ctx: &Ctx<B>,
    oneshot: &mut OneShot<B::InnerBackend>,
    strategy: &str,
    seed: u64,
    dir: &Path,
) -> Result<Vec<Evaluated>> {
    let budget = ctx.cfg.search.budget;
    let config = ctx.cfg.strategy_json()?;
    let mut strat = nas_core::strategy::build(strategy, &ctx.space, Some(config), seed)?;
    let (mut log, mut records) = JsonLog::open::<Evaluated>(&dir.join("evaluated.jsonl"))?;
    let state_path = dir.join("strategy.json");
    let mut told = 0;
    if let Some(st) = read_json::<SearchState>(&state_path)? {
        if st.strategy != strategy || st.seed != seed {
            bail!(
                "{} belongs to a search with strategy '{}' seed {}, not '{strategy}' seed {seed}",
                state_path.display(),
                st.strategy,
                st.seed
            );
        }
        strat.restore(st.state).context("restoring the strategy")?;
        told = st.told;
        if records.len() < told {
            bail!(
                "{} has {} evaluations but the strategy was told {told}: the run directory is damaged",
                dir.join("evaluated.jsonl").display(),
                records.len()
            );
        }
    }
    if told >= budget {
        records.truncate(budget);
        return Ok(records);
    }
    if told > 0 {
        tracing::info!(
            "search ({strategy}, seed {seed}): resuming after {told} of {budget} evaluations"
        );
    }
    let bar = ctx.ui.bar(budget, strategy);
    bar.set_position(told as u64);
    let mut best = records[..told]
        .iter()
        .map(|r| r.accuracy)
        .fold(f64::NAN, f64::max);
    for i in told..budget {
        let arch = strat.ask();
        let text = arch.to_string();
        let metrics = if let Some(r) = records.get(i) {
            // Evaluated before a kill, after which the strategy state was not yet saved.
            if r.arch != text {
                bail!(
                    "evaluation {i} in {} is {} but the restored strategy asks for {text}",
                    dir.join("evaluated.jsonl").display(),
                    r.arch
                );
            }
            Metrics {
                accuracy: r.accuracy,
                loss: r.loss,
                examples: ctx.data.validation.len(),
            }
        } else {
            let m = oneshot.score(&arch)?;
            let rec = Evaluated {
                index: i,
                arch: text,
                accuracy: m.accuracy,
                loss: m.loss,
            };
            log.append(&rec)?;
            records.push(rec);
            m
        };
        strat.tell(&arch, &metrics)?;
        write_json(
            &state_path,
            &SearchState {
                strategy: strategy.to_string(),
                seed,
                told: i + 1,
                state: strat.save(),
            },
        )?;
        best = best.max(metrics.accuracy);
        bar.inc(1);
        bar.set_message(format!("best {best:.3}"));
    }
    bar.finish_and_clear();
    write_csv(&dir.join("evaluated.csv"), &records)?;
    tracing::info!(
        "search ({strategy}, seed {seed}): {budget} evaluations, best one-shot accuracy {best:.4}"
    );
    Ok(records)
}

fn write_csv(path: &Path, records: &[Evaluated]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        w.serialize(r).context("writing CSV")?;
    }
    let bytes = w.into_inner().context("writing CSV")?;
    write_atomic(path, &bytes)
}

/// One retrained architecture.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Standalone {
    /// Why it was retrained: `top` (by one-shot accuracy), `random`, or `winner`/`user`.
    pub role: String,
    /// The architecture in text form.
    pub arch: String,
    /// The cache key: a hash of the architecture and everything its training depends on.
    pub key: String,
    /// Parameters and multiply-adds.
    pub stats: ModelStats,
    /// One-shot metrics on the validation images.
    pub one_shot: Metrics,
    /// Stand-alone metrics on the validation images (running statistics).
    pub validation: Metrics,
    /// Stand-alone metrics on the test images.
    pub test: Metrics,
    /// Seed of the model's initial weights.
    pub init_seed: u64,
    /// Seconds of training.
    pub seconds: f64,
}

/// What a stand-alone result depends on (hashed into its key).
#[derive(Serialize)]
struct StandaloneSetup<'a> {
    arch: &'a str,
    space: &'a SearchSpace,
    layers: &'a crate::config::Layers,
    data: &'a nas_core::data::DataConfig,
    train: &'a StandaloneTrainConfig,
    seed: u64,
}

/// Retrains `arch` stand-alone, or returns the saved result of an identical earlier
/// retraining from `RUN/standalone/`.
pub fn retrain_one<B: AutodiffBackend>(
    ctx: &Ctx<B>,
    oneshot: &mut OneShot<B::InnerBackend>,
    arch: &Architecture,
    role: &str,
) -> Result<Standalone> {
    let text = arch.to_string();
    let mut train = ctx.cfg.retrain.train.clone();
    train.augment = ctx.data.augment;
    let setup = StandaloneSetup {
        arch: &text,
        space: &ctx.space,
        layers: &ctx.cfg.layers,
        data: &ctx.cfg.data,
        train: &train,
        seed: ctx.cfg.seed,
    };
    let key = key_of(&setup);
    let path = ctx.path(&format!("standalone/{key}.json"));
    if let Some(mut done) = read_json::<Standalone>(&path)? {
        done.role = role.to_string();
        return Ok(done);
    }
    let one_shot = oneshot.score(arch)?;
    let init_seed = seed_of(&setup);
    B::seed(&ctx.device, init_seed);
    let model = StandaloneModel::<B>::new(&ctx.space, arch, &ctx.layers, &ctx.device)?;
    let steps = ctx.data.train.len() / train.batch_size.max(1) * train.epochs;
    let mut hook = StepBar {
        bar: ctx.ui.bar(steps, "retrain"),
    };
    let start = Instant::now();
    let (model, _) = train_standalone(model, &ctx.data.train, &train, &mut hook)
        .with_context(|| format!("retraining {text}"))?;
    hook.bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let model = model.valid();
    let batch = ctx.cfg.retrain.eval_batch;
    let validation =
        predict_standalone(&model, &ctx.data.validation, batch, NormMode::Running)?.metrics();
    let test = predict_standalone(&model, &ctx.data.test, batch, NormMode::Running)?.metrics();
    let result = Standalone {
        role: role.to_string(),
        stats: ModelStats::of(&ctx.space, arch, &ctx.layers)?,
        arch: text,
        key,
        one_shot,
        validation,
        test,
        init_seed,
        seconds,
    };
    write_json(&path, &result)?;
    tracing::info!(
        "retrained {} ({role}): one-shot {:.4}, stand-alone validation {:.4}, test {:.4} in {:.0}s",
        result.arch,
        result.one_shot.accuracy,
        result.validation.accuracy,
        result.test.accuracy,
        seconds
    );
    Ok(result)
}

/// The architectures phase 3 retrains: the `top_k` best distinct ones by one-shot
/// accuracy (earlier first on ties), then `random_k` random others of the space.
pub fn retrain_candidates(
    space: &SearchSpace,
    evaluated: &[Evaluated],
    top_k: usize,
    random_k: usize,
    seed: u64,
) -> Result<Vec<(Architecture, &'static str)>> {
    let mut sorted: Vec<&Evaluated> = evaluated.iter().collect();
    sorted.sort_by(|a, b| {
        b.accuracy
            .total_cmp(&a.accuracy)
            .then(a.index.cmp(&b.index))
    });
    let mut chosen: Vec<(Architecture, &'static str)> = Vec::new();
    for r in sorted {
        if chosen.len() >= top_k {
            break;
        }
        let arch = space.parse(&r.arch)?;
        if !chosen.iter().any(|(a, _)| a == &arch) {
            chosen.push((arch, "top"));
        }
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x005E_ED0F_2A4D);
    let mut tries = 0;
    while chosen.len() < top_k.min(evaluated.len()) + random_k && tries < 1000 * (random_k + 1) {
        tries += 1;
        let arch = space.sample(&mut rng);
        if !chosen.iter().any(|(a, _)| a == &arch) {
            chosen.push((arch, "random"));
        }
    }
    Ok(chosen)
}

/// Phase 3: retrains the candidates (skipping those already done).
pub fn retrain<B: AutodiffBackend>(
    ctx: &Ctx<B>,
    oneshot: &mut OneShot<B::InnerBackend>,
    evaluated: &[Evaluated],
) -> Result<Vec<Standalone>> {
    let r = &ctx.cfg.retrain;
    let picks = retrain_candidates(&ctx.space, evaluated, r.top_k, r.random_k, ctx.cfg.seed)?;
    tracing::info!("retraining {} architectures stand-alone", picks.len());
    picks
        .iter()
        .map(|(arch, role)| retrain_one(ctx, oneshot, arch, role))
        .collect()
}
