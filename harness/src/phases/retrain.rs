//! Phase 3: stand-alone training of the best architectures and of random ones.

use anyhow::Result;
use nas_core::backend::NasAutodiffBackend;
use nas_core::space::{Architecture, SearchSpace};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::standalone::train_one;
use super::workers::{Job, train_all};
use super::{Ctx, OneShot, Prepared};
use crate::records::{Evaluated, Failure, Outcome, Retrained, Role};

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
