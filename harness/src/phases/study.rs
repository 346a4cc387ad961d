//! `nas study dropout`: how the path-dropout rate changes the one-shot model's ranking,
//! what the supernet learns (KL divergence to every path on) and whether it favours large
//! architectures (docs/method.md, section 6).
//!
//! One supernet per rate (each an ordinary supernet of the run directory: keyed by its
//! settings, resumable on its own, shared with `nas run`), the same uniformly sampled
//! architectures scored one-shot by every supernet, and their stand-alone trainings done
//! once and shared by all rates (and with `nas run`, whose random architectures are drawn
//! from the same seeded sequence).

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::module::AutodiffModule;
use nas_core::backend::NasAutodiffBackend;
use nas_core::data::ImageDataset;
use nas_core::eval::{OneShotEvaluator, symmetric_kl};
use nas_core::network::Plan;
use nas_core::search::Metrics;
use nas_core::space::Architecture;
use nas_core::supernet::Supernet;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::workers::{Job, train_all};
use super::{Ctx, OneShot, Prepared, retrain_candidates, supernet};
use crate::plots::{plot_correlations, plot_scatter};
use crate::records::{Failure, Retrained, Role, Standalone};
use crate::reports::dropout::{DropoutReport, RateResult, SampledArch, dropout_markdown, rate_table};
use crate::reports::{NoiseFloor, Provenance, Spread, one_shot_warnings};
use crate::stats::{Agreement, RESAMPLES, mean_std};

/// The study's uniformly sampled architectures (`study.archs` of them, drawn from the
/// master seed: the same for every rate).
pub(crate) fn study_sample(ctx: &Prepared) -> Result<Vec<(Architecture, Role)>> {
    retrain_candidates(&ctx.space, &[], 0, ctx.cfg.study.archs, ctx.cfg.seed)
}

/// The stand-alone trainings of the sample: `seeds` per architecture.
pub(crate) fn sample_jobs(sample: &[(Architecture, Role)], seeds: usize) -> Vec<Job> {
    sample
        .iter()
        .flat_map(|(arch, _)| {
            (0..seeds as u64).map(|seed_offset| Job {
                arch: arch.clone(),
                role: Role::Random,
                seed_offset,
            })
        })
        .collect()
}

/// Runs the dropout study of `ctx`'s `[study]` settings and writes its report; returns
/// the summary's path and the report.
pub fn dropout_study<B: NasAutodiffBackend>(ctx: &Ctx<B>) -> Result<(PathBuf, DropoutReport)> {
    let start = std::time::Instant::now();
    let rates = ctx.cfg.study.rates.clone();
    let sample = study_sample(ctx)?;
    tracing::info!(
        "dropout study: {} rates x {} uniformly sampled architectures",
        rates.len(),
        sample.len()
    );
    let kl_data = kl_examples(&ctx.data.train, ctx.cfg.study.kl_examples, ctx.cfg.seed);
    let repeats = ctx.cfg.study.supernet_seeds.max(1) as u64;
    let mut scored: Vec<RateScores> = Vec::with_capacity(rates.len());
    for &rate in &rates {
        let mut this = RateScores {
            rate,
            keys: Vec::new(),
            scores: Vec::new(),
            kl: Vec::new(),
        };
        for repeat in 0..repeats {
            let choice = ctx.supernet_at(rate, repeat);
            let net = supernet(ctx, &choice)?;
            let mut oneshot = OneShot::new(ctx, &net)?;
            let scores = sample
                .iter()
                .map(|(arch, _)| oneshot.score(arch))
                .collect::<Result<Vec<_>>>()?;
            let kl = match &kl_data {
                Some(data) => kl_divergences(ctx, &net, data, &sample)?,
                None => Vec::new(),
            };
            tracing::info!(
                "rate {rate}: supernet {} (seeds +{repeat}), {} architectures scored",
                choice.key,
                scores.len()
            );
            this.keys.push(choice.key);
            this.scores.push(scores);
            this.kl.push(kl);
        }
        scored.push(this);
    }

    let seeds = ctx.cfg.retrain.seeds;
    let all = train_all(ctx, &sample_jobs(&sample, seeds))?;
    // An architecture with a failed (diverged) training is left out of every figure.
    let (mut trained, mut keep, mut failed): (Vec<Vec<Standalone>>, Vec<usize>, Vec<Failure>) =
        Default::default();
    for (i, runs) in all.chunks(seeds).enumerate() {
        match runs.iter().cloned().collect::<Result<Vec<_>, _>>() {
            Ok(runs) => {
                keep.push(i);
                trained.push(runs);
            }
            Err(f) => failed.push(f),
        }
    }

    let archs: Vec<SampledArch> = trained
        .iter()
        .map(|runs| SampledArch {
            arch: runs[0].arch.clone(),
            params: runs[0].stats.params,
            macs: runs[0].stats.macs,
            standalone: runs.iter().map(|r| r.validation.accuracy).collect(),
            test: runs.iter().map(|r| r.test.accuracy).collect(),
        })
        .collect();
    let means: Vec<f64> = archs
        .iter()
        .map(|a| a.standalone.iter().sum::<f64>() / a.standalone.len() as f64)
        .collect();
    let test_means: Vec<f64> = archs
        .iter()
        .map(|a| a.test.iter().sum::<f64>() / a.test.len().max(1) as f64)
        .collect();
    let params: Vec<f64> = archs.iter().map(|a| a.params as f64).collect();
    let top_k = ctx.cfg.retrain.top_k.clamp(1, archs.len());
    // The groups of the size-bias table: the top_k of the sample by some key.
    let group = |key: &[f64]| {
        let mut order: Vec<usize> = (0..key.len()).collect();
        order.sort_by(|&a, &b| key[b].total_cmp(&key[a]).then(a.cmp(&b)));
        let pick =
            |v: &[f64]| Spread::of(&order[..top_k].iter().map(|&i| v[i]).collect::<Vec<_>>());
        (pick(&means), pick(&params))
    };
    let agree = |x: &[f64], y: &[f64]| Agreement::of(x, y, RESAMPLES, ctx.cfg.seed);
    let mut results = Vec::new();
    for (k, rate_scores) in scored.into_iter().enumerate() {
        let rate = rate_scores.rate;
        // Each kept architecture's metrics by supernet, and their means.
        let by_net: Vec<Vec<Metrics>> = keep
            .iter()
            .map(|&i| rate_scores.scores.iter().map(|s| s[i].clone()).collect())
            .collect();
        let scores: Vec<Metrics> = by_net.iter().map(|m| mean_metrics(m)).collect();
        let kl: Vec<f64> = if rate_scores.kl.iter().any(Vec::is_empty) {
            Vec::new()
        } else {
            keep.iter()
                .map(|&i| mean_std(&rate_scores.kl.iter().map(|k| k[i]).collect::<Vec<_>>()).0)
                .collect()
        };
        let retrained: Vec<Retrained> = scores
            .iter()
            .zip(&trained)
            .map(|(m, runs)| Retrained {
                role: Role::Random,
                one_shot: m.clone(),
                standalone: runs[0].clone(),
                repeats: runs[1..].to_vec(),
            })
            .collect();
        let x: Vec<f64> = scores.iter().map(|m| m.accuracy).collect();
        let losses: Vec<f64> = scores.iter().map(|m| m.loss).collect();
        let minus_loss: Vec<f64> = losses.iter().map(|l| -l).collect();
        let y: Vec<f64> = retrained.iter().map(Retrained::mean_validation).collect();
        let accuracy_by_net: Vec<Vec<f64>> = by_net
            .iter()
            .map(|m| m.iter().map(|m| m.accuracy).collect())
            .collect();
        let (one_shot_noise, scores_by_supernet) = if repeats >= 2 {
            let by_supernet = (0..repeats as usize)
                .map(|n| accuracy_by_net.iter().map(|a| a[n]).collect())
                .collect();
            (
                NoiseFloor::of_runs(&accuracy_by_net, ctx.cfg.seed),
                by_supernet,
            )
        } else {
            (None, Vec::new())
        };
        let mut keys = rate_scores.keys.into_iter();
        let key = keys.next().unwrap_or_default();
        plot_scatter(
            &ctx.run
                .study_plot("dropout", &format!("scatter_{k}_rate_{rate}"))?,
            &format!("One-shot vs stand-alone, r = {rate} (equal spans)"),
            &retrained,
        )?;
        let (top_standalone, top_params) = group(&x);
        let warnings = one_shot_warnings(&x, ctx.space.classes, ctx.data.validation.len());
        for w in &warnings {
            tracing::warn!("rate {rate}: {w}");
        }
        results.push(RateResult {
            warnings,
            rate,
            supernet: key,
            supernet_repeats: keys.collect(),
            correlation: agree(&x, &y)?,
            test_correlation: Some(agree(&x, &test_means)?),
            loss_correlation: Some(agree(&minus_loss, &y)?),
            one_shot: Spread::of(&x),
            kl_vs_standalone: (!kl.is_empty()).then(|| agree(&kl, &y)).transpose()?,
            kl_vs_one_shot: (!kl.is_empty()).then(|| agree(&kl, &x)).transpose()?,
            params_vs_one_shot: agree(&params, &x)?,
            top_standalone,
            top_params,
            scores: x,
            losses,
            scores_by_supernet,
            one_shot_noise,
            kl,
        });
    }
    let (largest_standalone, largest_params) = group(&params);
    let by_seed: Vec<Vec<f64>> = archs.iter().map(|a| a.standalone.clone()).collect();
    let report = DropoutReport {
        backend: ctx.backend.clone(),
        seed: ctx.cfg.seed,
        config_hash: crate::rundir::key_of(&ctx.cfg),
        provenance: Provenance::here(),
        seeds,
        standalone: Spread::of(&means),
        noise: NoiseFloor::of_runs(&by_seed, ctx.cfg.seed),
        params_vs_standalone: agree(&params, &means)?,
        top_k,
        largest_standalone,
        largest_params,
        kl_examples: kl_data.as_ref().map_or(0, ImageDataset::len),
        archs,
        rates: results,
        failed,
        seconds: start.elapsed().as_secs_f64(),
    };
    let curves: Vec<(f64, Agreement)> = report
        .rates
        .iter()
        .map(|r| (r.rate, r.correlation.clone()))
        .collect();
    plot_correlations(
        &ctx.run.study_plot("dropout", "correlation_vs_rate")?,
        &curves,
    )?;
    let (md, rows) = dropout_markdown(&report);
    print!("{}", rate_table(&report).to_markdown());
    let path = ctx.run.write_study("dropout", &report, &md, &rows)?;
    Ok((path, report))
}

/// One rate's one-shot results before the stand-alone trainings: by supernet (repeat),
/// the supernet's key, every sampled architecture's metrics and KL divergences.
struct RateScores {
    rate: f64,
    keys: Vec<String>,
    scores: Vec<Vec<Metrics>>,
    kl: Vec<Vec<f64>>,
}

/// The mean of one architecture's one-shot metrics over several supernets.
fn mean_metrics(by_net: &[Metrics]) -> Metrics {
    let n = by_net.len().max(1) as f64;
    Metrics {
        accuracy: by_net.iter().map(|m| m.accuracy).sum::<f64>() / n,
        loss: by_net.iter().map(|m| m.loss).sum::<f64>() / n,
        examples: by_net.first().map_or(0, |m| m.examples),
    }
}

/// A seeded sample of `n` training images for the KL analysis (`None` for 0).
fn kl_examples(train: &ImageDataset, n: usize, seed: u64) -> Option<ImageDataset> {
    if n == 0 || train.is_empty() {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x004B_4C00);
    let picked = rand::seq::index::sample(&mut rng, train.len(), n.min(train.len())).into_vec();
    Some(train.select(&picked))
}

/// For each architecture, the symmetric KL divergence between `net`'s predictions with
/// every path on and with only the architecture's paths on, over `data` (in batches of
/// `search.eval_batch`, batch statistics as in one-shot scoring).
fn kl_divergences<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    net: &Supernet<B>,
    data: &ImageDataset,
    sample: &[(Architecture, Role)],
) -> Result<Vec<f64>> {
    let eval = OneShotEvaluator::new(
        net.valid(),
        data.clone(),
        ctx.cfg.search.eval_batch,
        ctx.device.clone(),
    )
    .context("setting up the KL analysis")?;
    let reference = eval.predict_plan(&Plan::all_on(&ctx.space));
    sample
        .iter()
        .map(|(arch, _)| Ok(symmetric_kl(&reference, &eval.predict(arch)?)))
        .collect()
}

