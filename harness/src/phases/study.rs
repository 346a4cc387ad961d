//! `nas study dropout`: how the path-dropout rate changes the one-shot model's ranking,
//! what the supernet learns (KL divergence to every path on) and whether it favours large
//! architectures (docs/method.md, section 6).
//!
//! One supernet per rate (each an ordinary supernet of the run directory: keyed by its
//! settings, resumable on its own, shared with `nas run`), the same uniformly sampled
//! architectures scored one-shot by every supernet, and their stand-alone trainings done
//! once and shared by all rates (and with `nas run`, whose random architectures are drawn
//! from the same seeded sequence).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::module::AutodiffModule;
use nas_core::backend::NasAutodiffBackend;
use nas_core::data::ImageDataset;
use nas_core::eval::{
    FineTuneConfig, FineTuner, OneShotEvaluator, predict_standalone, symmetric_kl,
};
use nas_core::network::Plan;
use nas_core::ops::NormMode;
use nas_core::search::Metrics;
use nas_core::space::Architecture;
use nas_core::supernet::Supernet;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::workers::{Job, train_all};
use super::{CacheWrites, Ctx, OneShot, Prepared, retrain_candidates, supernet};
use crate::config::Proxy;
use crate::plots::{plot_correlations, plot_points, plot_ranges};
use crate::records::{Failure, Role, Standalone};
use crate::reports::dropout::{
    ChosenRate, DropoutReport, ProxyBaseline, RateResult, SampledArch, dropout_markdown, rate_table,
};
use crate::reports::{NoiseFloor, NoiseSources, Provenance, Spread, one_shot_warnings};
use crate::rundir::{CachedScore, score_cache};
use crate::stats::{self, Agreement, RESAMPLES, TopK, mean_std, paired_difference, spearman};

/// The study's uniformly sampled architectures: the `study.archs` reported ones, then the
/// `study.select_archs` of the selection sample (all drawn from the master seed's
/// sequence, without repeats: the two samples are disjoint, and the same for every rate).
pub(crate) fn study_sample(ctx: &Prepared) -> Result<Vec<(Architecture, Role)>> {
    let study = &ctx.cfg.study;
    retrain_candidates(
        &ctx.space,
        &[],
        0,
        study.archs + study.select_archs,
        ctx.cfg.seed,
    )
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
    let reported = ctx.cfg.study.archs.min(sample.len());
    tracing::info!(
        "dropout study: {} rates x {} uniformly sampled architectures ({} reported, {} to \
         choose the rate on)",
        rates.len(),
        sample.len(),
        reported,
        sample.len() - reported
    );
    let kl_data = kl_examples(&ctx.data.train, ctx.cfg.study.kl_examples, ctx.cfg.seed);
    let repeats = ctx.cfg.study.supernet_seeds.max(1) as u64;
    let mut scored: Vec<RateScores> = Vec::with_capacity(rates.len());
    let supernets = rates.len() * repeats as usize;
    for (k, &rate) in rates.iter().enumerate() {
        let mut this = RateScores {
            rate,
            keys: Vec::new(),
            scores: Vec::new(),
            kl: Vec::new(),
        };
        for repeat in 0..repeats {
            let choice = ctx.supernet_at(rate, repeat);
            let net = supernet(ctx, &choice)?;
            let mut oneshot = OneShot::new(ctx, &net, &choice, CacheWrites::Append)?;
            let scores = sample
                .iter()
                .map(|(arch, _)| oneshot.score(arch))
                .collect::<Result<Vec<_>>>()?;
            let kl = match &kl_data {
                Some(data) => kl_divergences(ctx, &net, data, &sample)?,
                None => Vec::new(),
            };
            tracing::info!(
                "rate {rate}: supernet {} (seeds +{repeat}; {} of {supernets}), {} \
                 architectures scored",
                choice.key,
                k * repeats as usize + repeat as usize + 1,
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
    let trained: Vec<std::result::Result<Vec<Standalone>, Failure>> = all
        .chunks(seeds)
        .map(|runs| runs.iter().cloned().collect())
        .collect();
    let proxy = proxy_scores(ctx, &sample[..reported])?;
    let measured = Measured {
        scored,
        trained,
        proxy,
        reported,
        seeds,
        top_k: ctx.cfg.study.top_k,
        legacy_top_k: ctx.cfg.retrain.top_k,
        classes: ctx.space.classes,
        validation_images: ctx.data.validation.len(),
        test_images: ctx.data.test.len(),
        kl_examples: kl_data.as_ref().map_or(0, ImageDataset::len),
        seed: ctx.cfg.seed,
    };
    let mut report = analyse(&measured)?;
    report.backend = ctx.backend.clone();
    report.config_hash = crate::rundir::key_of(&ctx.cfg);
    report.provenance = Provenance::here();
    report.seconds = start.elapsed().as_secs_f64();
    for (k, x) in report.rates.iter().enumerate() {
        for w in &x.warnings {
            tracing::warn!("rate {}: {w}", x.rate);
        }
        let points: Vec<(f64, f64)> = x
            .scores
            .iter()
            .zip(&report.archs)
            .map(|(&s, a)| (s, a.mean_validation()))
            .collect();
        plot_points(
            &ctx.run
                .study_plot("dropout", &format!("scatter_{k}_rate_{}", x.rate))?,
            &format!("One-shot vs stand-alone, r = {} (equal spans)", x.rate),
            &points,
        )?;
    }
    plot_ranges(&ctx.run.study_plot("dropout", "figure5")?, &report)?;
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

/// What the study measured: every supernet's scores of the whole sample (reported, then
/// selection), every stand-alone training, and the settings the analysis needs.
pub(crate) struct Measured {
    /// By rate: its supernets' keys, scores and KL divergences.
    pub(crate) scored: Vec<RateScores>,
    /// By architecture of the sample: its trainings (one per seed), or the failure.
    pub(crate) trained: Vec<std::result::Result<Vec<Standalone>, Failure>>,
    /// The short-training baseline of the reported sample (`study.proxy`), if on.
    pub(crate) proxy: Option<ProxyScores>,
    /// The first `reported` architectures are the reported sample, the rest the
    /// selection sample.
    pub(crate) reported: usize,
    pub(crate) seeds: usize,
    /// `study.top_k`.
    pub(crate) top_k: usize,
    /// `retrain.top_k`: the groups of the size-bias table.
    pub(crate) legacy_top_k: usize,
    pub(crate) classes: usize,
    pub(crate) validation_images: usize,
    pub(crate) test_images: usize,
    pub(crate) kl_examples: usize,
    pub(crate) seed: u64,
}

/// Permutations of the rate-dependence test.
const PERMUTATIONS: usize = 2000;

/// Evaluation-set sizes the noise sources are projected to, besides the measured one.
const PROJECTED_IMAGES: [usize; 3] = [1000, 5000, 10000];

/// The report of what was measured (provenance, backend, configuration hash and wall
/// time left empty for the caller): every figure over the reported sample, the rate
/// chosen on the selection sample (or, without one, on the reported sample's validation
/// accuracy), the noise and its sources.
pub(crate) fn analyse(m: &Measured) -> Result<DropoutReport> {
    let seed = m.seed;
    let agree = |x: &[f64], y: &[f64]| Agreement::of(x, y, RESAMPLES, seed);
    // An architecture with a failed (diverged) training is left out of every figure.
    let (mut keep, mut select_keep, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for (i, t) in m.trained.iter().enumerate() {
        match t {
            Ok(_) if i < m.reported => keep.push(i),
            Ok(_) => select_keep.push(i),
            Err(f) => failed.push(f.clone()),
        }
    }
    let sampled = |idx: &[usize]| -> Vec<SampledArch> {
        idx.iter()
            .filter_map(|&i| m.trained[i].as_ref().ok())
            .map(|runs| SampledArch {
                arch: runs[0].arch.clone(),
                params: runs[0].stats.params,
                macs: runs[0].stats.macs,
                standalone: runs.iter().map(|r| r.validation.accuracy).collect(),
                test: runs.iter().map(|r| r.test.accuracy).collect(),
            })
            .collect()
    };
    let archs = sampled(&keep);
    let selection_archs = sampled(&select_keep);
    let means: Vec<f64> = archs.iter().map(SampledArch::mean_validation).collect();
    let test_means: Vec<f64> = archs.iter().map(SampledArch::mean_test).collect();
    let select_means: Vec<f64> = selection_archs
        .iter()
        .map(SampledArch::mean_validation)
        .collect();
    let params: Vec<f64> = archs.iter().map(|a| a.params as f64).collect();
    let macs: Vec<f64> = archs.iter().map(|a| a.macs as f64).collect();
    let legacy_k = m.legacy_top_k.clamp(1, archs.len().max(1));
    // The groups of the size-bias table: the legacy_k of the sample by some key.
    let group = |key: &[f64]| {
        let mut order: Vec<usize> = (0..key.len()).collect();
        order.sort_by(|&a, &b| key[b].total_cmp(&key[a]).then(a.cmp(&b)));
        let k = legacy_k.min(order.len());
        let pick = |v: &[f64]| Spread::of(&order[..k].iter().map(|&i| v[i]).collect::<Vec<_>>());
        (pick(&means), pick(&params))
    };
    let top_k = m.top_k.min(archs.len().saturating_sub(1));
    let proxy = match &m.proxy {
        Some(p) => Some(proxy_baseline(p, &keep, &test_means, seed)?),
        None => None,
    };
    let mut results = Vec::new();
    let mut reported_scores: Vec<Vec<f64>> = Vec::new();
    for rate_scores in &m.scored {
        let rate = rate_scores.rate;
        // Each kept architecture's metrics by supernet, and their means.
        let by_net = |idx: &[usize]| -> Vec<Vec<Metrics>> {
            idx.iter()
                .map(|&i| rate_scores.scores.iter().map(|s| s[i].clone()).collect())
                .collect()
        };
        let nets = by_net(&keep);
        let scores: Vec<Metrics> = nets.iter().map(|m| mean_metrics(m)).collect();
        let select_scores: Vec<f64> = by_net(&select_keep)
            .iter()
            .map(|m| mean_metrics(m).accuracy)
            .collect();
        let kl: Vec<f64> = if rate_scores.kl.iter().any(Vec::is_empty) {
            Vec::new()
        } else {
            keep.iter()
                .map(|&i| mean_std(&rate_scores.kl.iter().map(|k| k[i]).collect::<Vec<_>>()).0)
                .collect()
        };
        let x: Vec<f64> = scores.iter().map(|m| m.accuracy).collect();
        let losses: Vec<f64> = scores.iter().map(|m| m.loss).collect();
        let minus_loss: Vec<f64> = losses.iter().map(|l| -l).collect();
        let accuracy_by_net: Vec<Vec<f64>> = nets
            .iter()
            .map(|m| m.iter().map(|m| m.accuracy).collect())
            .collect();
        let minus_loss_by_net: Vec<Vec<f64>> = nets
            .iter()
            .map(|m| m.iter().map(|m| -m.loss).collect())
            .collect();
        let supernets = rate_scores.scores.len();
        let transpose = |by_arch: &[Vec<f64>], sign: f64| -> Vec<Vec<f64>> {
            (0..supernets)
                .map(|n| by_arch.iter().map(|a| sign * a[n]).collect())
                .collect()
        };
        let (one_shot_noise, one_shot_loss_noise, one_shot_sources) = if supernets >= 2 {
            (
                NoiseFloor::of_runs(&without_run_offsets(&accuracy_by_net), seed),
                NoiseFloor::of_runs(&without_run_offsets(&minus_loss_by_net), seed),
                NoiseSources::of(
                    &without_run_offsets(&accuracy_by_net),
                    m.validation_images,
                    &PROJECTED_IMAGES,
                ),
            )
        } else {
            (None, None, None)
        };
        let (scores_by_supernet, losses_by_supernet) = if supernets >= 2 {
            (
                transpose(&accuracy_by_net, 1.0),
                transpose(&minus_loss_by_net, -1.0),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let mut keys = rate_scores.keys.iter().cloned();
        let key = keys.next().unwrap_or_default();
        let (top_standalone, top_params) = group(&x);
        let warnings = one_shot_warnings(&x, m.classes, m.validation_images);
        let selection = (select_scores.len() >= 3)
            .then(|| agree(&select_scores, &select_means))
            .transpose()?;
        reported_scores.push(x.clone());
        results.push(RateResult {
            warnings,
            rate,
            supernet: key,
            supernet_repeats: keys.collect(),
            correlation: agree(&x, &means)?,
            test_correlation: Some(agree(&x, &test_means)?),
            loss_correlation: Some(agree(&minus_loss, &means)?),
            one_shot: Spread::of(&x),
            kl_vs_standalone: (!kl.is_empty()).then(|| agree(&kl, &means)).transpose()?,
            kl_vs_one_shot: (!kl.is_empty()).then(|| agree(&kl, &x)).transpose()?,
            params_vs_one_shot: agree(&params, &x)?,
            top_standalone,
            top_params,
            params_difference: Some(paired_difference(
                &x,
                &params,
                &test_means,
                spearman,
                RESAMPLES,
                seed,
            )?),
            macs_difference: Some(paired_difference(
                &x,
                &macs,
                &test_means,
                spearman,
                RESAMPLES,
                seed,
            )?),
            macs_vs_one_shot: Some(agree(&macs, &x)?),
            proxy_difference: match &proxy {
                Some(p) => Some(paired_difference(
                    &x,
                    &p.scores,
                    &test_means,
                    spearman,
                    RESAMPLES,
                    seed,
                )?),
                None => None,
            },
            top: TopK::of(&x, &test_means, top_k, RESAMPLES, seed)?,
            selection_scores: select_scores,
            selection,
            scores: x,
            losses,
            scores_by_supernet,
            losses_by_supernet,
            one_shot_noise,
            one_shot_loss_noise,
            one_shot_sources,
            kl,
        });
    }
    let chosen = choose_rate(&results);
    let (largest_standalone, largest_params) = group(&params);
    let by_seed: Vec<Vec<f64>> = archs.iter().map(|a| a.standalone.clone()).collect();
    let test_by_seed: Vec<Vec<f64>> = archs.iter().map(|a| a.test.clone()).collect();
    Ok(DropoutReport {
        backend: String::new(),
        seed,
        config_hash: String::new(),
        provenance: Provenance::default(),
        seeds: m.seeds,
        standalone: Spread::of(&means),
        noise: NoiseFloor::of_runs(&by_seed, seed),
        params_vs_standalone: agree(&params, &means)?,
        top_k: legacy_k,
        largest_standalone,
        largest_params,
        kl_examples: m.kl_examples,
        rate_test: stats::rate_permutation_test(&reported_scores, &test_means, PERMUTATIONS, seed)?,
        macs_vs_standalone: Some(agree(&macs, &test_means)?),
        test_noise: NoiseFloor::of_runs(&test_by_seed, seed),
        sources: NoiseSources::of(&by_seed, m.validation_images, &PROJECTED_IMAGES),
        test_sources: NoiseSources::of(&test_by_seed, m.test_images, &PROJECTED_IMAGES),
        proxy,
        validation_images: m.validation_images,
        test_images: m.test_images,
        chosen,
        archs,
        selection_archs,
        rates: results,
        failed,
        seconds: 0.0,
    })
}

/// Scores by architecture and run (`by_arch[a][s]`) with each run's offset removed: run
/// `s`'s mean over the architectures is moved to the grand mean. A supernet that scores
/// every architecture a few points lower than another (its one-shot accuracy level
/// differs) ranks them no differently, so that shift is not noise for a ranking; only
/// how the runs disagree about architectures is. Each architecture's mean over the runs,
/// and every rank correlation between runs, stay as they were.
fn without_run_offsets(by_arch: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let runs = by_arch.iter().map(Vec::len).min().unwrap_or(0);
    let n = by_arch.len().max(1) as f64;
    let run_means: Vec<f64> = (0..runs)
        .map(|s| by_arch.iter().map(|a| a[s]).sum::<f64>() / n)
        .collect();
    let grand = run_means.iter().sum::<f64>() / runs.max(1) as f64;
    by_arch
        .iter()
        .map(|a| {
            a.iter()
                .take(runs)
                .zip(&run_means)
                .map(|(x, m)| x - m + grand)
                .collect()
        })
        .collect()
}

/// The rate with the highest Spearman on the selection sample; without one, on the
/// reported sample's validation accuracy (`None` when no rate has a value).
fn choose_rate(results: &[RateResult]) -> Option<ChosenRate> {
    let on_selection = results.iter().any(|r| r.selection.is_some());
    let by = |r: &RateResult| -> Option<Agreement> {
        if on_selection {
            r.selection.clone()
        } else {
            Some(r.correlation.clone())
        }
    };
    results
        .iter()
        .filter_map(|r| {
            let a = by(r)?;
            Some((r.rate, a.spearman.value?, a))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(rate, _, a)| ChosenRate {
            rate,
            disjoint: on_selection,
            spearman: a.spearman,
            n: a.n,
        })
}

/// The short-training baseline's measurements (`study.proxy`): the settings, and for
/// each architecture of the reported sample its validation metrics, one per seed.
pub(crate) struct ProxyScores {
    pub(crate) cfg: Proxy,
    pub(crate) by_arch: Vec<Vec<Metrics>>,
    /// Trainings done in this invocation (the others were read back).
    pub(crate) trained: usize,
    pub(crate) seconds: f64,
}

/// What a short-training baseline score depends on (hashed into its cache's name under
/// `study/proxy/`): the data and the validation images, the scoring batch, the backend,
/// the space and layers the models are built in, and the training (with its seed).
#[derive(Serialize)]
struct ProxySetup<'a> {
    data: &'a nas_core::data::DataConfig,
    validation_images: usize,
    eval_batch: usize,
    backend: &'a str,
    space: &'a nas_core::space::SearchSpace,
    layers: &'a crate::config::Layers,
    training: &'a FineTuneConfig,
}

/// The short-training baseline of `archs` (`study.proxy`; `None` when off): each trained
/// from scratch once per seed and scored like the one-shot model, every score read back
/// from its cache under `RUN/study/proxy/` or added to it as it is computed.
fn proxy_scores<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    archs: &[(Architecture, Role)],
) -> Result<Option<ProxyScores>> {
    let cfg = &ctx.cfg.study.proxy;
    if !cfg.enabled() {
        return Ok(None);
    }
    let start = std::time::Instant::now();
    let dir = ctx.run.root().join("study/proxy");
    let mut by_arch: Vec<Vec<Metrics>> = vec![Vec::new(); archs.len()];
    let mut trained = 0;
    let bar = ctx.ui.bar(archs.len() * cfg.seeds, "baseline");
    for k in 0..cfg.seeds {
        let training = cfg.training(k);
        let setup = ProxySetup {
            data: &ctx.cfg.data,
            validation_images: ctx.data.validation.len(),
            eval_batch: ctx.cfg.search.eval_batch,
            backend: &ctx.backend,
            space: &ctx.space,
            layers: &ctx.cfg.layers,
            training: &training,
        };
        let (mut cache, cached) = score_cache(&dir, &setup, true)?;
        let known: HashMap<String, Metrics> = cached
            .into_iter()
            .map(|c| {
                let m = Metrics {
                    accuracy: c.accuracy,
                    loss: c.loss,
                    examples: c.examples,
                };
                (c.arch, m)
            })
            .collect();
        let tuner = FineTuner::<B>::scratch(
            &ctx.space,
            &ctx.device,
            &ctx.data.train,
            &training,
            ctx.data.augment,
            &ctx.layers,
        )
        .context("invalid [study.proxy]")?;
        for ((arch, _), scores) in archs.iter().zip(&mut by_arch) {
            let text = arch.to_string();
            let m = match known.get(&text) {
                Some(m) => m.clone(),
                None => {
                    let model = tuner
                        .tune(arch)
                        .with_context(|| format!("the short-training baseline of {text}"))?;
                    let m = predict_standalone(
                        &model,
                        &ctx.data.validation,
                        ctx.cfg.search.eval_batch,
                        NormMode::Batch,
                    )?
                    .metrics();
                    cache.append(&CachedScore {
                        arch: text,
                        accuracy: m.accuracy,
                        loss: m.loss,
                        examples: m.examples,
                    })?;
                    trained += 1;
                    m
                }
            };
            scores.push(m);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    tracing::info!(
        "short-training baseline: {} architectures x {} seeds of {} steps ({trained} trained, \
         the rest read back from {}) in {:.0} s",
        archs.len(),
        cfg.seeds,
        cfg.steps,
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(Some(ProxyScores {
        cfg: cfg.clone(),
        by_arch,
        trained,
        seconds: start.elapsed().as_secs_f64(),
    }))
}

/// The baseline's figures over the kept architectures `keep` (indices into the reported
/// sample), against stand-alone test accuracy `test_means` (in the order of `keep`).
fn proxy_baseline(
    p: &ProxyScores,
    keep: &[usize],
    test_means: &[f64],
    seed: u64,
) -> Result<ProxyBaseline> {
    let by_arch: Vec<Vec<f64>> = keep
        .iter()
        .map(|&i| p.by_arch[i].iter().map(|m| m.accuracy).collect())
        .collect();
    let scores: Vec<f64> = by_arch.iter().map(|a| mean_std(a).0).collect();
    let seeds = p.cfg.seeds;
    Ok(ProxyBaseline {
        steps: p.cfg.steps,
        seeds,
        batch_size: p.cfg.batch_size,
        lr: p.cfg.optim.lr,
        seed: p.cfg.seed,
        by_seed: (0..seeds)
            .map(|k| by_arch.iter().map(|a| a[k]).collect())
            .collect(),
        test_correlation: Agreement::of(&scores, test_means, RESAMPLES, seed)?,
        noise: if seeds >= 2 {
            NoiseFloor::of_runs(&by_arch, seed)
        } else {
            None
        },
        scores,
        trained: p.trained,
        seconds: p.seconds,
    })
}

/// One rate's one-shot results before the stand-alone trainings: by supernet (repeat),
/// the supernet's key, every sampled architecture's metrics and KL divergences.
pub(crate) struct RateScores {
    pub(crate) rate: f64,
    pub(crate) keys: Vec<String>,
    pub(crate) scores: Vec<Vec<Metrics>>,
    pub(crate) kl: Vec<Vec<f64>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_is_the_mean_over_its_seeds_of_the_kept_architectures_only() {
        let m = |accuracy: f64| Metrics {
            accuracy,
            loss: 1.0 - accuracy,
            examples: 100,
        };
        // 5 reported architectures, 2 seeds; the third's stand-alone training failed.
        let by_arch = vec![
            vec![m(0.60), m(0.62)],
            vec![m(0.70), m(0.66)],
            vec![m(0.99), m(0.99)],
            vec![m(0.50), m(0.54)],
            vec![m(0.80), m(0.78)],
        ];
        let p = ProxyScores {
            cfg: Proxy {
                steps: 7,
                ..Proxy::default()
            },
            by_arch,
            trained: 10,
            seconds: 1.5,
        };
        let keep = [0, 1, 3, 4];
        let test = [0.81, 0.84, 0.79, 0.88];
        let b = proxy_baseline(&p, &keep, &test, 3).unwrap();
        let want = [0.61, 0.68, 0.52, 0.79];
        assert_eq!(b.scores.len(), 4);
        for (got, want) in b.scores.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{:?}", b.scores);
        }
        assert_eq!(
            b.by_seed,
            vec![vec![0.60, 0.70, 0.50, 0.80], vec![0.62, 0.66, 0.54, 0.78]]
        );
        // The baseline ranks the kept four exactly as the truth does: 1.
        assert_eq!(b.test_correlation.n, 4);
        assert!((b.test_correlation.spearman.value.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!((b.steps, b.seeds, b.trained), (7, 2, 10));
        assert!((b.lr - 0.1).abs() < 1e-12);
        // Below 3 architectures with 2 seeds there is no noise floor; here there is one,
        // and its first pair is the two seeds.
        let noise = b.noise.expect("two seeds of four architectures");
        assert_eq!((noise.architectures, noise.seeds), (4, 2));
        assert!((noise.seed_to_seed.spearman.value.unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_supernet_that_scores_everything_lower_adds_no_noise() {
        // Two supernets that rank 4 architectures identically, the second 5 points lower
        // on all of them.
        let by_arch: Vec<Vec<f64>> = [0.70, 0.72, 0.71, 0.74]
            .iter()
            .map(|&x| vec![x, x - 0.05])
            .collect();
        let raw = NoiseFloor::of_runs(&by_arch, 0).unwrap();
        assert!((raw.seed_std - 0.05 / 2f64.sqrt()).abs() < 1e-12, "{raw:?}");
        let fixed = without_run_offsets(&by_arch);
        let floor = NoiseFloor::of_runs(&fixed, 0).unwrap();
        assert!(floor.seed_std < 1e-12, "{floor:?}");
        // The architectures' means and the supernets' agreement are unchanged.
        for (a, b) in by_arch.iter().zip(&fixed) {
            assert!(((a[0] + a[1]) - (b[0] + b[1])).abs() < 1e-12);
        }
        assert_eq!(floor.seed_to_seed.spearman, raw.seed_to_seed.spearman);
        assert!((floor.between_std - raw.between_std).abs() < 1e-12);
        // Disagreement about the architectures stays: swap two in the second supernet.
        let mut swapped = by_arch.clone();
        swapped[0][1] = 0.72 - 0.05;
        swapped[1][1] = 0.70 - 0.05;
        let noisy = NoiseFloor::of_runs(&without_run_offsets(&swapped), 0).unwrap();
        assert!(noisy.seed_std > 0.005, "{noisy:?}");
    }
}
