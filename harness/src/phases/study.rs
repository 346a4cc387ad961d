//! `nas study dropout`: how the path-dropout rate changes the one-shot model's ranking
//! (docs/method.md, section 6).
//!
//! One supernet per rate (each an ordinary supernet of the run directory: keyed by its
//! settings, resumable on its own, shared with `nas run`), the same uniformly sampled
//! architectures scored one-shot by every supernet, and their stand-alone trainings done
//! once and shared by all rates (and with `nas run`, whose random architectures are drawn
//! from the same seeded sequence).

use std::path::PathBuf;

use anyhow::Result;
use nas_core::backend::NasAutodiffBackend;
use serde::{Deserialize, Serialize};

use super::{Ctx, OneShot, retrain::train_one, retrain_candidates, supernet};
use crate::export::{Cell, Table};
use crate::plots::{plot_correlations, plot_scatter};
use crate::records::{Retrained, Role, Standalone};
use crate::report::{NoiseFloor, Spread};
use crate::stats::{Agreement, RESAMPLES};

/// One rate of the dropout study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateResult {
    /// The path-dropout rate `r_max`.
    pub rate: f64,
    /// The supernet's key (its folder under `supernet/`).
    pub supernet: String,
    /// One-shot vs stand-alone validation accuracy (mean over seeds) over the sample.
    pub correlation: Agreement,
    /// The spread of the one-shot accuracies.
    pub one_shot: Spread,
    /// The one-shot accuracy of each architecture, in the order of
    /// [`DropoutReport::archs`].
    pub scores: Vec<f64>,
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
    /// The uniformly sampled architectures.
    pub archs: Vec<SampledArch>,
    /// Stand-alone training seeds per architecture.
    pub seeds: usize,
    /// The spread of stand-alone validation accuracy (mean over seeds) over the sample.
    pub standalone: Spread,
    /// The stand-alone noise floor (with 2 or more seeds).
    pub noise: Option<NoiseFloor>,
    /// One entry per rate, in the order given.
    pub rates: Vec<RateResult>,
    /// Wall time of the whole study in this invocation, in seconds.
    pub seconds: f64,
}

/// Runs the dropout study of `ctx`'s `[study]` settings and writes its report; returns
/// the summary's path.
pub fn dropout_study<B: NasAutodiffBackend>(ctx: &mut Ctx<B>) -> Result<PathBuf> {
    let start = std::time::Instant::now();
    let (rates, n) = (ctx.cfg.study.rates.clone(), ctx.cfg.study.archs);
    let sample = retrain_candidates(&ctx.space, &[], 0, n, ctx.cfg.seed)?;
    tracing::info!(
        "dropout study: {} rates x {} uniformly sampled architectures",
        rates.len(),
        sample.len()
    );
    let base_rate = ctx.supernet_cfg.drop_path.r_max;
    let mut scored = Vec::with_capacity(rates.len());
    for &rate in &rates {
        ctx.prep.set_drop_rate(rate);
        let net = supernet(ctx)?;
        let mut oneshot = OneShot::new(ctx, &net)?;
        let scores = sample
            .iter()
            .map(|(arch, _)| oneshot.score(arch))
            .collect::<Result<Vec<_>>>()?;
        tracing::info!(
            "rate {rate}: supernet {}, {} architectures scored",
            ctx.supernet_key,
            scores.len()
        );
        scored.push((rate, ctx.supernet_key.clone(), scores));
    }
    ctx.prep.set_drop_rate(base_rate);

    let seeds = ctx.cfg.retrain.seeds;
    let mut trained: Vec<Vec<Standalone>> = Vec::with_capacity(sample.len());
    for (i, (arch, _)) in sample.iter().enumerate() {
        tracing::info!("stand-alone training {} of {}", i + 1, sample.len());
        trained.push(
            (0..seeds as u64)
                .map(|s| train_one(ctx, arch, Role::Random, s))
                .collect::<Result<Vec<_>>>()?,
        );
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
    let mut results = Vec::new();
    for (k, (rate, key, scores)) in scored.into_iter().enumerate() {
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
        let y: Vec<f64> = retrained.iter().map(Retrained::mean_validation).collect();
        plot_scatter(
            &ctx.run
                .study_plot("dropout", &format!("scatter_{k}_rate_{rate}"))?,
            &format!("One-shot vs stand-alone, r = {rate} (equal spans)"),
            &retrained,
        )?;
        results.push(RateResult {
            rate,
            supernet: key,
            correlation: Agreement::of(&x, &y, RESAMPLES, ctx.cfg.seed),
            one_shot: Spread::of(&x),
            scores: x,
        });
    }
    let means: Vec<f64> = archs
        .iter()
        .map(|a| a.standalone.iter().sum::<f64>() / a.standalone.len() as f64)
        .collect();
    let by_seed: Vec<Vec<f64>> = archs.iter().map(|a| a.standalone.clone()).collect();
    let report = DropoutReport {
        backend: ctx.backend.clone(),
        seed: ctx.cfg.seed,
        seeds,
        standalone: Spread::of(&means),
        noise: NoiseFloor::of_runs(&by_seed, ctx.cfg.seed),
        archs,
        rates: results,
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
    ctx.run.write_study("dropout", &report, &md, &rows)
}

/// One row per rate: the correlations with their intervals and the one-shot spread.
fn rate_table(r: &DropoutReport) -> Table {
    let mut t = Table::new(&[
        ("rate", "r_max"),
        ("spearman", "Spearman [95% CI]"),
        ("kendall", "Kendall tau-b [95% CI]"),
        ("pearson", "Pearson [95% CI]"),
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
    let mut md = format!(
        "# Path-dropout study\n\n\
         {} uniformly sampled architectures, each scored one-shot by one supernet per \
         path-dropout rate and trained stand-alone with {} seed(s); backend `{}`, seed {}, \
         {:.0} s in this invocation. Correlations are of one-shot accuracy with stand-alone \
         validation accuracy (mean over seeds), with 95% bootstrap intervals ({} resamples).\n\n{}\n\
         Stand-alone accuracy over the sample: {:.4} ± {:.4}, range {:.4}..{:.4}.\n\n",
        r.archs.len(),
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
        ("standalone", "stand-alone val (mean over seeds)"),
        ("params", "params"),
        ("macs", "MACs"),
    ]);
    for x in &r.rates {
        for (a, score) in r.archs.iter().zip(&x.scores) {
            rows.push(vec![
                Cell::Num(x.rate, 3),
                Cell::code(a.arch.clone()),
                Cell::Num(*score, 4),
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
