//! One stand-alone training: its key, its saved outcome (in this run directory or in
//! `retrain.shared_dir`), and the training itself. The retraining phase, the worker
//! processes and the studies all train through [`train_one`].

use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::AutodiffModule;
use nas_core::backend::NasAutodiffBackend;
use nas_core::eval::predict_standalone;
use nas_core::ops::NormMode;
use nas_core::space::{Architecture, SearchSpace};
use nas_core::standalone::StandaloneModel;
use nas_core::stats::ModelStats;
use nas_core::train::{TrainError, train_standalone};
use serde::Serialize;

use super::{Ctx, Prepared};
use crate::records::{Failure, Outcome, Role, Standalone};
use crate::rundir::{RunDir, key_of, seed_of};
use crate::ui::StepBar;

/// What a stand-alone result depends on (hashed into its key).
#[derive(Serialize)]
struct StandaloneSetup<'a> {
    arch: &'a str,
    space: &'a SearchSpace,
    layers: &'a crate::config::Layers,
    data: &'a nas_core::data::DataConfig,
    train: &'a nas_core::train::StandaloneTrainConfig,
    seed: u64,
}

/// The training settings of `arch`'s training number `seed_offset` (its seed moved).
fn seeded_training(ctx: &Prepared, seed_offset: u64) -> nas_core::train::StandaloneTrainConfig {
    let mut train = ctx.standalone_cfg.clone();
    train.seed = train.seed.wrapping_add(seed_offset);
    train
}

/// The key of `arch`'s stand-alone training with the training seed moved by
/// `seed_offset`: the name of its result file.
pub(crate) fn standalone_key(ctx: &Prepared, arch: &Architecture, seed_offset: u64) -> String {
    let text = arch.to_string();
    let train = seeded_training(ctx, seed_offset);
    key_of(&setup_of(ctx, &text, &train))
}

fn setup_of<'a>(
    ctx: &'a Prepared,
    arch: &'a str,
    train: &'a nas_core::train::StandaloneTrainConfig,
) -> StandaloneSetup<'a> {
    StandaloneSetup {
        arch,
        space: &ctx.space,
        layers: &ctx.cfg.layers,
        data: &ctx.cfg.data,
        train,
        seed: ctx.cfg.seed,
    }
}

/// How the stand-alone training with key `key` ended, if it was done before: in this run
/// directory, or in `retrain.shared_dir` (then copied into this run directory).
pub(crate) fn cached_standalone(ctx: &Prepared, key: &str) -> Result<Option<Outcome>> {
    if let Some(done) = ctx.run.read_outcome(key)? {
        return Ok(Some(done));
    }
    let Some(shared) = shared_dir(ctx) else {
        return Ok(None);
    };
    let found = shared
        .read_outcome(key)
        .with_context(|| format!("reading retrain.shared_dir {}", shared.root().display()))?;
    if let Some(done) = &found {
        ctx.run.write_outcome(done)?;
    }
    Ok(found)
}

fn shared_dir(ctx: &Prepared) -> Option<RunDir> {
    let dir = ctx.cfg.retrain.shared_dir.trim();
    (!dir.is_empty()).then(|| RunDir::new(dir))
}

/// One stand-alone training of `arch`, with the training seed moved by `seed_offset`
/// (which changes the data order and, through the key, the initial weights), or its
/// saved outcome. A training that diverges is recorded as a [`Failure`], not an error.
pub(crate) fn train_one<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    arch: &Architecture,
    role: Role,
    seed_offset: u64,
) -> Result<Outcome> {
    let text = arch.to_string();
    let train = &seeded_training(ctx, seed_offset);
    let setup = setup_of(ctx, &text, train);
    let key = key_of(&setup);
    if let Some(done) = cached_standalone(ctx, &key)? {
        return Ok(done);
    }
    let init_seed = seed_of(&setup);
    let model = StandaloneModel::<B>::new(&ctx.space, arch, &ctx.layers, init_seed, &ctx.device)?;
    let steps = ctx.data.train.len() / train.batch_size.max(1) * train.epochs;
    let mut hook = StepBar {
        bar: ctx.ui.bar(steps, "retrain"),
    };
    let start = Instant::now();
    let trained = train_standalone(model, &ctx.data.train, train, &mut hook);
    hook.bar.finish_and_clear();
    let model = match trained {
        Ok((model, _)) => model,
        Err(e @ TrainError::Diverged { .. }) => {
            let failure = Failure {
                arch: text,
                key,
                reason: e.to_string(),
                seconds: start.elapsed().as_secs_f64(),
                computed_by: crate::reports::provenance::slurm_origin(),
            };
            tracing::warn!(
                "stand-alone training of {} ({}, training seed {}) failed: {}",
                failure.arch,
                role.as_str(),
                train.seed,
                failure.reason
            );
            write_outcome(ctx, &Err(failure.clone()))?;
            return Ok(Err(failure));
        }
        Err(e) => return Err(e).with_context(|| format!("retraining {text}")),
    };
    let seconds = start.elapsed().as_secs_f64();
    let model = model.valid();
    let batch = ctx.cfg.retrain.eval_batch;
    let validation =
        predict_standalone(&model, &ctx.data.validation, batch, NormMode::Running)?.metrics();
    let test = predict_standalone(&model, &ctx.data.test, batch, NormMode::Running)?.metrics();
    let result = Standalone {
        stats: ModelStats::of(&ctx.space, arch, &ctx.layers)?,
        arch: text,
        key,
        validation,
        test,
        init_seed,
        seconds,
        backend: ctx.backend.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        computed_by: crate::reports::provenance::slurm_origin(),
    };
    write_outcome(ctx, &Ok(result.clone()))?;
    tracing::info!(
        "retrained {} ({}, training seed {}): stand-alone validation {:.4}, test {:.4} in {:.0}s",
        result.arch,
        role.as_str(),
        train.seed,
        result.validation.accuracy,
        result.test.accuracy,
        seconds
    );
    Ok(Ok(result))
}

/// Saves an outcome in this run directory and in `retrain.shared_dir`.
fn write_outcome<B: NasAutodiffBackend>(ctx: &Ctx<B>, o: &Outcome) -> Result<()> {
    ctx.run.write_outcome(o)?;
    if let Some(shared) = shared_dir(ctx) {
        shared.write_outcome(o).with_context(|| {
            format!("writing to retrain.shared_dir {}", shared.root().display())
        })?;
    }
    Ok(())
}
