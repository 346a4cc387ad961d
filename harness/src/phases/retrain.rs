//! Phase 3: stand-alone training of the best architectures and of random ones.

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
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::workers::{Job, train_all};
use super::{Ctx, OneShot, Prepared};
use crate::records::{Evaluated, Failure, Outcome, Retrained, Role, Standalone};
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

/// `arch` trained stand-alone (or the saved result of an identical earlier training),
/// with its one-shot score from this run's supernet; random architectures are trained
/// with each of `retrain.seeds` seeds. A training that diverged gives its [`Failure`]
/// (the first one, when several seeds diverged).
pub fn retrain_one<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    oneshot: &mut OneShot<B::InnerBackend>,
    arch: &Architecture,
    role: Role,
) -> Result<std::result::Result<Retrained, Failure>> {
    let one_shot = oneshot.score(arch)?;
    let seeds = if role == Role::Random {
        ctx.cfg.retrain.seeds
    } else {
        1
    };
    let runs = (0..seeds.max(1) as u64)
        .map(|i| train_one(ctx, arch, role, i))
        .collect::<Result<Vec<Outcome>>>()?;
    let mut runs = match runs.into_iter().collect::<std::result::Result<Vec<_>, _>>() {
        Ok(runs) => runs,
        Err(failure) => return Ok(Err(failure)),
    };
    let standalone = runs.remove(0);
    Ok(Ok(Retrained {
        role,
        one_shot,
        standalone,
        repeats: runs,
    }))
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

/// The architectures phase 3 retrains: the `top_k` best distinct ones by one-shot
/// accuracy (earlier first on ties), then `random_k` random others of the space.
pub fn retrain_candidates(
    space: &SearchSpace,
    evaluated: &[Evaluated],
    top_k: usize,
    random_k: usize,
    seed: u64,
) -> Result<Vec<(Architecture, Role)>> {
    let mut sorted: Vec<&Evaluated> = evaluated.iter().collect();
    sorted.sort_by(|a, b| {
        b.accuracy
            .total_cmp(&a.accuracy)
            .then(a.index.cmp(&b.index))
    });
    let mut chosen: Vec<(Architecture, Role)> = Vec::new();
    for r in sorted {
        if chosen.len() >= top_k {
            break;
        }
        let arch = space.parse(&r.arch)?;
        if !chosen.iter().any(|(a, _)| a == &arch) {
            chosen.push((arch, Role::Top));
        }
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x005E_ED0F_2A4D);
    let mut tries = 0;
    while chosen.len() < top_k.min(evaluated.len()) + random_k && tries < 1000 * (random_k + 1) {
        tries += 1;
        let arch = space.sample(&mut rng);
        if !chosen.iter().any(|(a, _)| a == &arch) {
            chosen.push((arch, Role::Random));
        }
    }
    Ok(chosen)
}

/// Architectures picked for retraining, each with why.
pub(crate) type Candidates = Vec<(Architecture, Role)>;

/// The architectures a finished search hands to retraining, and their stand-alone
/// trainings (the random ones with `retrain.seeds` seeds each, the top ones with one).
pub(crate) fn retrain_jobs(
    ctx: &Prepared,
    evaluated: &[Evaluated],
) -> Result<(Candidates, Vec<Job>)> {
    let r = &ctx.cfg.retrain;
    let picks = retrain_candidates(&ctx.space, evaluated, r.top_k, r.random_k, ctx.cfg.seed)?;
    let jobs = picks
        .iter()
        .flat_map(|(arch, role)| {
            let seeds = if *role == Role::Random { r.seeds } else { 1 };
            (0..seeds as u64).map(|seed_offset| Job {
                arch: arch.clone(),
                role: *role,
                seed_offset,
            })
        })
        .collect();
    Ok((picks, jobs))
}

/// Retrains the candidates of a search (reusing those trained before); returns the
/// retrained ones and the failures (an architecture with a failed seed is left out).
pub fn retrain<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    oneshot: &mut OneShot<B::InnerBackend>,
    evaluated: &[Evaluated],
) -> Result<(Vec<Retrained>, Vec<Failure>)> {
    let (picks, jobs) = retrain_jobs(ctx, evaluated)?;
    tracing::info!("retraining {} architectures stand-alone", picks.len());
    train_all(ctx, &jobs)?;
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for (arch, role) in &picks {
        match retrain_one(ctx, oneshot, arch, *role)? {
            Ok(r) => done.push(r),
            Err(f) => failed.push(f),
        }
    }
    Ok((done, failed))
}
