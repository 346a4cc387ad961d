//! Phase 2: a search scored one-shot with the trained supernet.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use burn::module::{AutodiffModule, Module};
use nas_core::backend::{NasAutodiffBackend, NasBackend};
use nas_core::eval::{FineTuneConfig, FineTuner, OneShotEvaluator};
use nas_core::search::{
    EvalError, Evaluated, Evaluator, Metrics, SearchObserver, SearchSpec, run_search,
};
use nas_core::space::Architecture;
use nas_core::standalone::StandaloneModel;
use nas_core::supernet::Supernet;
use serde::Serialize;

use super::{Ctx, Prepared, SupernetChoice};
use crate::rundir::{CachedScore, ScoreCache, SearchDir, key_of};
use crate::ui::Progress;

/// One-shot scoring on the validation images, with a memo backed by the supernet's score
/// cache: the score of an architecture is a deterministic function of the supernet, the
/// images and the evaluation settings, so a rerun reads it back instead of computing it.
pub struct OneShot<B: NasBackend> {
    eval: OneShotEvaluator<B>,
    tuner: Option<Tuner<B>>,
    memo: HashMap<Architecture, Metrics>,
    cache: ScoreCache,
}

/// Fine-tunes a candidate before it is scored (`search.finetune`), as an inference model.
type Tuner<B> = Box<dyn Fn(&Architecture) -> Result<StandaloneModel<B>, EvalError>>;

/// What a one-shot score depends on besides the supernet's weights (hashed into the name
/// of the supernet's score cache): the validation images (by the data settings that
/// draw them, and their number), the scoring batch (batch-norm statistics come from it)
/// and the backend (its arithmetic).
#[derive(Serialize)]
struct ScoreSetup<'a> {
    data: &'a nas_core::data::DataConfig,
    validation_images: usize,
    eval_batch: usize,
    backend: &'a str,
    /// Absent when off, so that the caches of plain one-shot scores keep their names.
    #[serde(skip_serializing_if = "Option::is_none")]
    finetune: Option<&'a FineTuneConfig>,
}

/// Whether a [`OneShot`] adds what it scores to the supernet's score cache: only a
/// process holding the run directory's lock may (a Slurm task reads it only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheWrites {
    /// Append new scores.
    Append,
    /// Read the cache, append nothing.
    ReadOnly,
}

impl<B: NasBackend> OneShot<B> {
    /// Scores with `supernet` (its inference copy), the trained supernet of `choice`,
    /// starting from the scores already in its cache.
    pub fn new<A: NasAutodiffBackend<InnerBackend = B>>(
        ctx: &Ctx<A>,
        supernet: &Supernet<A>,
        choice: &SupernetChoice,
        writes: CacheWrites,
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
        let finetune = &ctx.cfg.search.finetune;
        let tuner: Option<Tuner<B>> = if finetune.enabled() {
            let tuner = FineTuner::new(
                supernet.clone(),
                &ctx.data.train,
                finetune,
                ctx.data.augment,
                &ctx.layers,
            )
            .context("invalid [search.finetune]")?;
            Some(Box::new(move |arch: &Architecture| tuner.tune(arch)))
        } else {
            None
        };
        let setup = ScoreSetup {
            data: &ctx.cfg.data,
            validation_images: ctx.data.validation.len(),
            eval_batch: ctx.cfg.search.eval_batch,
            backend: &ctx.backend,
            finetune: finetune.enabled().then_some(finetune),
        };
        let (cache, cached) = ctx
            .run
            .supernet(&choice.key)
            .scores(&setup, writes == CacheWrites::Append)?;
        let mut memo = HashMap::with_capacity(cached.len());
        for s in cached {
            let arch = ctx.space.parse(&s.arch).with_context(|| {
                format!(
                    "{} holds an architecture outside the search space ({}): delete the \
                     file to score again",
                    cache.path().display(),
                    s.arch
                )
            })?;
            let metrics = Metrics {
                accuracy: s.accuracy,
                loss: s.loss,
                examples: s.examples,
            };
            memo.insert(arch, metrics);
        }
        if !memo.is_empty() {
            tracing::info!(
                "supernet {}: {} one-shot scores read back from {}",
                choice.key,
                memo.len(),
                cache.path().display()
            );
        }
        Ok(OneShot {
            eval,
            tuner,
            memo,
            cache,
        })
    }

    /// The one-shot metrics of `arch`.
    pub fn score(&mut self, arch: &Architecture) -> Result<Metrics> {
        Ok(self.evaluate(arch)?)
    }
}

impl<B: NasBackend> Evaluator for OneShot<B> {
    fn evaluate(&mut self, arch: &Architecture) -> Result<Metrics, EvalError> {
        if let Some(m) = self.memo.get(arch) {
            return Ok(m.clone());
        }
        let m = match &self.tuner {
            Some(tune) => self.eval.predict_model(&tune(arch)?).metrics(),
            None => self.eval.evaluate(arch)?,
        };
        let cached = CachedScore {
            arch: arch.to_string(),
            accuracy: m.accuracy,
            loss: m.loss,
            examples: m.examples,
        };
        if let Err(e) = self.cache.append(&cached) {
            // The score is right; only the rerun will compute it again.
            tracing::warn!("{e:#}; scoring goes on without the cache");
            self.cache.stop_writing();
        }
        self.memo.insert(arch.clone(), m.clone());
        Ok(m)
    }
}

/// What a search depends on (hashed into its key, saved as its `setup.json`). The budget
/// is not part of it: a larger budget continues the same search.
#[derive(Serialize)]
pub(crate) struct SearchSetup<'a> {
    supernet: &'a str,
    strategy: &'a str,
    strategy_config: serde_json::Value,
    seed: u64,
    eval_batch: usize,
    /// Absent when off, so that plain searches keep their keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    finetune: Option<&'a FineTuneConfig>,
}

/// The folder of the search of `strategy` with `seed` under `prep`'s settings (on the
/// configured supernet).
pub(crate) fn search_dir<'a>(
    prep: &'a Prepared,
    strategy: &str,
    seed: u64,
) -> Result<(SearchDir, SearchSetup<'a>)> {
    let setup = SearchSetup {
        supernet: &prep.supernet.key,
        strategy: nas_core::strategy::lookup(strategy)?.name,
        strategy_config: prep.cfg.strategy_json(strategy)?,
        seed,
        eval_batch: prep.cfg.search.eval_batch,
        finetune: prep
            .cfg
            .search
            .finetune
            .enabled()
            .then_some(&prep.cfg.search.finetune),
    };
    let dir = prep.run.search(strategy, seed, &key_of(&setup));
    Ok((dir, setup))
}

/// A progress bar over evaluations.
struct Bar(Progress);

impl SearchObserver for Bar {
    fn on_start(&mut self, done: usize, _budget: usize) {
        self.0.set_position(done as u64);
    }
    fn on_told(&mut self, _: &Evaluated, best: f64) {
        self.0.inc(1);
        self.0.set_message(format!("best {best:.3}"));
    }
}

/// Runs (or resumes, or reads back) the search of `strategy` with `seed` under the
/// configured budget. Returns every evaluation in order.
pub fn search<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    oneshot: &mut OneShot<B::InnerBackend>,
    strategy: &str,
    seed: u64,
) -> Result<Vec<Evaluated>> {
    let budget = ctx.cfg.search.budget;
    let (mut dir, setup) = search_dir(ctx, strategy, seed)?;
    dir.write_setup(&setup)?;
    let config = ctx.cfg.strategy_json(strategy)?;
    let mut strat = nas_core::strategy::build(strategy, &ctx.space, Some(config), seed)?;
    let mut bar = Bar(ctx.ui.bar(budget, strategy));
    let spec = SearchSpec { seed, budget };
    let records = run_search(strat.as_mut(), &spec, oneshot, &mut dir, &mut bar)
        .with_context(|| format!("search in {}", dir.path().display()))?;
    bar.0.finish_and_clear();
    let best = records.iter().map(|r| r.accuracy).fold(f64::NAN, f64::max);
    tracing::info!(
        "search ({strategy}, seed {seed}): {budget} evaluations, best one-shot accuracy {best:.4}; {}",
        dir.path().display()
    );
    Ok(records)
}

/// The log of the configured search, which must have spent its budget.
pub fn finished_search(prep: &Prepared) -> Result<Vec<Evaluated>> {
    let (strategy, seed, budget) = (
        &prep.cfg.search.strategy,
        prep.cfg.seed,
        prep.cfg.search.budget,
    );
    let (dir, _) = search_dir(prep, strategy, seed)?;
    let told = dir.checkpoint()?.map_or(0, |c| c.told);
    if told < budget {
        bail!(
            "the search ({strategy}, seed {seed}) in {} is not finished ({told} of {budget} evaluations): run `nas search` first",
            prep.run.root().display()
        );
    }
    let mut log = dir.read_log()?;
    log.truncate(budget);
    Ok(log)
}
