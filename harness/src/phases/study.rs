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
use serde::{Deserialize, Serialize};

use super::workers::{Job, train_all};
use super::{Ctx, OneShot, Prepared, retrain_candidates, supernet};
use crate::export::{Cell, Table};
use crate::plots::{plot_correlations, plot_scatter};
use crate::records::{Failure, Retrained, Role, Standalone};
use crate::report::{NoiseFloor, Spread, failures_table, one_shot_warnings};
use crate::stats::{Agreement, RESAMPLES, mean_std};

/// One rate of the dropout study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateResult {
    /// The path-dropout rate `r_max`.
    pub rate: f64,
    /// The supernet's key (its folder under `supernet/`); with `study.supernet_seeds` above
    /// 1, the first of the rate's supernets.
    pub supernet: String,
    /// The keys of the rate's other supernets (seeds moved by 1, 2, ...; empty with one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supernet_repeats: Vec<String>,
    /// One-shot vs stand-alone validation accuracy (mean over seeds) over the sample.
    pub correlation: Agreement,
    /// One-shot vs stand-alone test accuracy (mean over seeds): the same ranking against
    /// a second, larger set of held-out images (`None` in reports older than this field).
    #[serde(default)]
    pub test_correlation: Option<Agreement>,
    /// Minus the one-shot loss vs stand-alone validation accuracy (mean over seeds):
    /// scoring by cross-entropy instead of accuracy (`None` in reports older than this
    /// field).
    #[serde(default)]
    pub loss_correlation: Option<Agreement>,
    /// The spread of the one-shot accuracies.
    pub one_shot: Spread,
    /// The one-shot accuracy of each architecture (mean over the rate's supernets), in the
    /// order of [`DropoutReport::archs`].
    pub scores: Vec<f64>,
    /// The one-shot loss (mean cross-entropy) of each architecture (mean over the rate's
    /// supernets), in the same order.
    #[serde(default)]
    pub losses: Vec<f64>,
    /// With 2 or more supernets: each supernet's one-shot accuracies (one list per
    /// supernet, in the order of `supernet` then `supernet_repeats`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores_by_supernet: Vec<Vec<f64>>,
    /// With 2 or more supernets: the one-shot noise floor, how far supernets that differ
    /// only in their seeds agree on the sample (the fields' "seeds" are supernets, and
    /// `ceiling` bounds any correlation with the mean one-shot score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_shot_noise: Option<NoiseFloor>,
    /// Symmetric KL divergence between the supernet's predictions with every path on and
    /// each architecture's, on the KL examples (empty without a KL analysis).
    pub kl: Vec<f64>,
    /// KL divergence vs stand-alone accuracy (the paper expects a negative relation).
    pub kl_vs_standalone: Option<Agreement>,
    /// KL divergence vs one-shot accuracy.
    pub kl_vs_one_shot: Option<Agreement>,
    /// Parameters vs one-shot accuracy (size bias of the one-shot model).
    pub params_vs_one_shot: Agreement,
    /// The stand-alone accuracy (mean over seeds) of the `top_k` architectures by one-shot
    /// accuracy.
    pub top_standalone: Spread,
    /// Their parameter counts.
    pub top_params: Spread,
    /// One-shot scores that rank nothing (all equal, or at chance level).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One architecture of the sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampledArch {
    /// The architecture in text form.
    pub arch: String,
    /// Trainable parameters.
    pub params: u64,
    /// Multiply-adds per image.
    pub macs: u64,
    /// Stand-alone validation accuracy of each training seed.
    pub standalone: Vec<f64>,
    /// Stand-alone test accuracy of each training seed.
    pub test: Vec<f64>,
}

/// What `nas study dropout` writes as `study/dropout/report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DropoutReport {
    /// Backend and device used.
    pub backend: String,
    /// Master seed (the sample, the supernets' initial weights and data order).
    pub seed: u64,
    /// Hash of the whole configuration (`config.toml` of the run directory).
    #[serde(default)]
    pub config_hash: String,
    /// Version of the `nas` crate and the commit it was built from.
    #[serde(default)]
    pub version: String,
    /// The CPU's instruction-set extensions that CPU results depend on: CPU backends
    /// give bit-identical results on machines where this agrees (see `cpu_extensions`).
    #[serde(default)]
    pub cpu: String,
    /// The uniformly sampled architectures.
    pub archs: Vec<SampledArch>,
    /// Stand-alone training seeds per architecture.
    pub seeds: usize,
    /// The spread of stand-alone validation accuracy (mean over seeds) over the sample.
    pub standalone: Spread,
    /// The stand-alone noise floor (with 2 or more seeds).
    pub noise: Option<NoiseFloor>,
    /// Parameters vs stand-alone accuracy over the sample.
    pub params_vs_standalone: Agreement,
    /// How many architectures the "top" and "largest" groups have (`retrain.top_k`).
    pub top_k: usize,
    /// The stand-alone accuracy of the `top_k` largest architectures (by parameters).
    pub largest_standalone: Spread,
    /// Their parameter counts.
    pub largest_params: Spread,
    /// Training images of the KL analysis (0: none).
    pub kl_examples: usize,
    /// One entry per rate, in the order given.
    pub rates: Vec<RateResult>,
    /// Stand-alone trainings that diverged; their architectures are left out of every
    /// figure (and of `archs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<Failure>,
    /// Wall time of the whole study in this invocation, in seconds.
    pub seconds: f64,
}

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
pub fn dropout_study<B: NasAutodiffBackend>(ctx: &mut Ctx<B>) -> Result<(PathBuf, DropoutReport)> {
    let start = std::time::Instant::now();
    let rates = ctx.cfg.study.rates.clone();
    let sample = study_sample(ctx)?;
    tracing::info!(
        "dropout study: {} rates x {} uniformly sampled architectures",
        rates.len(),
        sample.len()
    );
    let base_rate = ctx.supernet_cfg.drop_path.r_max;
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
            ctx.prep.select_supernet(rate, repeat);
            let net = supernet(ctx)?;
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
                ctx.supernet_key,
                scores.len()
            );
            this.keys.push(ctx.supernet_key.clone());
            this.scores.push(scores);
            this.kl.push(kl);
        }
        scored.push(this);
    }
    ctx.prep.select_supernet(base_rate, 0);

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
            correlation: agree(&x, &y),
            test_correlation: Some(agree(&x, &test_means)),
            loss_correlation: Some(agree(&minus_loss, &y)),
            one_shot: Spread::of(&x),
            kl_vs_standalone: (!kl.is_empty()).then(|| agree(&kl, &y)),
            kl_vs_one_shot: (!kl.is_empty()).then(|| agree(&kl, &x)),
            params_vs_one_shot: agree(&params, &x),
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
        version: super::version(),
        cpu: super::cpu_extensions(),
        seeds,
        standalone: Spread::of(&means),
        noise: NoiseFloor::of_runs(&by_seed, ctx.cfg.seed),
        params_vs_standalone: agree(&params, &means),
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

/// One row per rate: the correlations with their intervals and the one-shot spread.
fn rate_table(r: &DropoutReport) -> Table {
    let mut t = Table::new(&[
        ("rate", "r_max"),
        ("spearman", "Spearman [95% CI]"),
        ("kendall", "Kendall tau-b [95% CI]"),
        ("pearson", "Pearson [95% CI]"),
        ("spearman_test", "Spearman vs test [95% CI]"),
        ("spearman_loss", "Spearman by loss [95% CI]"),
        ("one_shot", "one-shot (mean ± std)"),
        ("one_shot_range", "one-shot range"),
        ("supernet", "supernet"),
    ]);
    for x in &r.rates {
        let c = &x.correlation;
        t.push(vec![
            Cell::Num(x.rate, 3),
            Cell::text(c.spearman.text()),
            Cell::text(c.kendall.text()),
            Cell::text(c.pearson.text()),
            Cell::text(
                x.test_correlation
                    .as_ref()
                    .map_or("n/a".to_string(), |t| t.spearman.text()),
            ),
            Cell::text(
                x.loss_correlation
                    .as_ref()
                    .map_or("n/a".to_string(), |t| t.spearman.text()),
            ),
            Cell::MeanStd(x.one_shot.mean, x.one_shot.std, 4),
            Cell::text(format!("{:.4}..{:.4}", x.one_shot.min, x.one_shot.max)),
            Cell::code(x.supernet.clone()),
        ]);
    }
    t
}

/// The study's summary, and its data as rows: one per (rate, architecture).
fn dropout_markdown(r: &DropoutReport) -> (String, Table) {
    let s = &r.standalone;
    let supernets = r
        .rates
        .iter()
        .map(|x| 1 + x.supernet_repeats.len())
        .max()
        .unwrap_or(1);
    let mut md = format!(
        "# Path dropout, KL divergence and size bias of the one-shot model\n\n\
         {} uniformly sampled architectures, each scored one-shot by {} per path-dropout \
         rate and trained stand-alone with {} seed(s); backend `{}`, seed {}, \
         {:.0} s in this invocation. Correlations are of one-shot accuracy with stand-alone \
         validation accuracy (mean over seeds), with 95% bootstrap intervals ({} resamples); \
         \"vs test\": with stand-alone test accuracy (mean over seeds) instead; \"by \
         loss\": of minus the one-shot loss (cross-entropy) instead of one-shot \
         accuracy.\n\n{}\n\
         Stand-alone accuracy over the sample: {:.4} ± {:.4}, range {:.4}..{:.4}.\n\n",
        r.archs.len(),
        match supernets {
            1 => "one supernet".to_string(),
            n => format!(
                "{n} supernets (seeds moved by 0..{}; the mean score)",
                n - 1
            ),
        },
        r.seeds,
        r.backend,
        r.seed,
        r.seconds,
        RESAMPLES,
        rate_table(r).to_markdown(),
        s.mean,
        s.std,
        s.min,
        s.max
    );
    if r.rates.iter().any(|x| x.one_shot_noise.is_some()) {
        md.push_str(&one_shot_noise_section(r));
    }
    if r.kl_examples > 0 {
        let mut kl = Table::new(&[
            ("rate", "r_max"),
            ("kl", "symmetric KL (mean ± std)"),
            ("kl_vs_standalone", "Spearman(KL, stand-alone) [95% CI]"),
            ("kl_vs_one_shot", "Spearman(KL, one-shot) [95% CI]"),
        ]);
        for x in &r.rates {
            let (m, sd) = mean_std(&x.kl);
            let text = |a: &Option<Agreement>| {
                Cell::text(a.as_ref().map_or("n/a".to_string(), |a| a.spearman.text()))
            };
            kl.push(vec![
                Cell::Num(x.rate, 3),
                Cell::MeanStd(m, sd, 4),
                text(&x.kl_vs_standalone),
                text(&x.kl_vs_one_shot),
            ]);
        }
        md.push_str(&format!(
            "## What the supernet learns (KL divergence)\n\nOn {} training images, the \
             symmetric KL divergence between each supernet's predictions with every path on \
             and with only one architecture's paths on (the paper's figure 6: architectures \
             close to the whole supernet should be the better ones, a negative correlation \
             with stand-alone accuracy).\n\n{}\n",
            r.kl_examples,
            kl.to_markdown()
        ));
    }
    let mut size = Table::new(&[
        ("group", "group"),
        ("n", "n"),
        ("standalone", "stand-alone val (mean ± std)"),
        ("params", "params (mean ± std)"),
        ("params_vs_one_shot", "Spearman(params, one-shot) [95% CI]"),
    ]);
    let all_params: Vec<f64> = r.archs.iter().map(|a| a.params as f64).collect();
    let p = Spread::of(&all_params);
    size.push(vec![
        Cell::text("the whole sample"),
        Cell::Int(r.archs.len() as u64),
        Cell::MeanStd(s.mean, s.std, 4),
        Cell::MeanStd(p.mean, p.std, 0),
        Cell::text(""),
    ]);
    size.push(vec![
        Cell::text(format!("the {} largest", r.top_k)),
        Cell::Int(r.top_k as u64),
        Cell::MeanStd(r.largest_standalone.mean, r.largest_standalone.std, 4),
        Cell::MeanStd(r.largest_params.mean, r.largest_params.std, 0),
        Cell::text(""),
    ]);
    for x in &r.rates {
        size.push(vec![
            Cell::text(format!("top {} by one-shot, r = {}", r.top_k, x.rate)),
            Cell::Int(r.top_k as u64),
            Cell::MeanStd(x.top_standalone.mean, x.top_standalone.std, 4),
            Cell::MeanStd(x.top_params.mean, x.top_params.std, 0),
            Cell::text(x.params_vs_one_shot.spearman.text()),
        ]);
    }
    md.push_str(&format!(
        "## Size bias\n\nDoes the one-shot model favour large architectures (the paper's \
         table 1)? Over the sample, Spearman(params, stand-alone) = {}.\n\n{}\n",
        r.params_vs_standalone.spearman.text(),
        size.to_markdown()
    ));
    for x in &r.rates {
        for w in &x.warnings {
            md.push_str(&format!("**Warning** (r = {}): {w}.\n\n", x.rate));
        }
    }
    if !r.failed.is_empty() {
        md.push_str(&format!(
            "## Failed stand-alone trainings\n\n{} training(s) diverged; their architectures \
             are left out of every figure above.\n\n{}\n",
            r.failed.len(),
            failures_table(&r.failed).to_markdown()
        ));
    }
    md.push_str(&match &r.noise {
        Some(n) => format!("{}\n\n", n.sentence()),
        None => "The stand-alone noise floor was not measured: set `retrain.seeds` to 3.\n\n"
            .to_string(),
    });
    md.push_str(
        "Plots: `plots/correlation_vs_rate.svg`, and one scatter per rate \
         (`plots/scatter_*.svg`). Every score: `results.csv`.\n",
    );
    let mut rows = Table::new(&[
        ("rate", "r_max"),
        ("arch", "architecture"),
        ("one_shot", "one-shot"),
        ("one_shot_loss", "one-shot loss"),
        ("kl", "symmetric KL"),
        ("standalone", "stand-alone val (mean over seeds)"),
        ("params", "params"),
        ("macs", "MACs"),
    ]);
    for x in &r.rates {
        for (i, (a, score)) in r.archs.iter().zip(&x.scores).enumerate() {
            rows.push(vec![
                Cell::Num(x.rate, 3),
                Cell::code(a.arch.clone()),
                Cell::Num(*score, 4),
                Cell::opt(x.losses.get(i).copied(), 4),
                Cell::opt(x.kl.get(i).copied(), 4),
                Cell::Num(
                    a.standalone.iter().sum::<f64>() / a.standalone.len() as f64,
                    4,
                ),
                Cell::Int(a.params),
                Cell::Int(a.macs),
            ]);
        }
    }
    (md, rows)
}

/// The one-shot noise floor of every rate with 2 or more supernets: how well supernets
/// that differ only in their seeds agree, and what that leaves of any correlation.
fn one_shot_noise_section(r: &DropoutReport) -> String {
    let mut t = Table::new(&[
        ("rate", "r_max"),
        ("supernets", "supernets"),
        ("seed_to_seed", "supernet 1 vs 2: Spearman [95% CI]"),
        ("seed_std", "std between supernets"),
        ("between_std", "std between architectures"),
        ("ceiling", "one-shot ceiling"),
        ("both", "ceiling with stand-alone noise"),
    ]);
    let standalone = r.noise.as_ref().and_then(|n| n.ceiling);
    for x in &r.rates {
        let Some(n) = &x.one_shot_noise else { continue };
        t.push(vec![
            Cell::Num(x.rate, 3),
            Cell::Int(n.seeds as u64),
            Cell::text(n.seed_to_seed.spearman.text()),
            Cell::Num(n.seed_std, 4),
            Cell::Num(n.between_std, 4),
            Cell::opt(n.ceiling, 2),
            Cell::opt(n.ceiling.zip(standalone).map(|(a, b)| a * b), 2),
        ]);
    }
    format!(
        "## One-shot noise floor\n\nThe same architectures scored by supernets that differ \
         only in their seeds (initial weights, data order, path masks). \"One-shot ceiling\": \
         the highest correlation any stand-alone ranking could reach with the mean one-shot \
         score given this noise (the square root of its Spearman-Brown reliability, from the \
         mean Spearman between every pair of supernets); \"with stand-alone noise\": that \
         times the stand-alone ceiling, the most the correlations above could show if the \
         one-shot model ranked perfectly.\n\n{}\n",
        t.to_markdown()
    )
}
