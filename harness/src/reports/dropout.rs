//! The dropout study's report (`study/dropout/report.json`, `summary.md`,
//! `results.csv`): per rate, how well the one-shot model ranks a uniform sample of
//! architectures against stand-alone training, what the supernet learns (KL divergence)
//! and whether it favours large architectures.

use serde::{Deserialize, Serialize};

use super::{NoiseFloor, Provenance, Spread, failures_table};
use crate::export::{Cell, Table};
use crate::records::Failure;
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
    /// Where it comes from: version and commit, CPU extensions, machine, command line
    /// (flattened: `version`, `cpu`, `machine`, `command`).
    #[serde(flatten)]
    pub provenance: Provenance,
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

/// One row per rate: the correlations with their intervals and the one-shot spread.
pub fn rate_table(r: &DropoutReport) -> Table {
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
pub fn dropout_markdown(r: &DropoutReport) -> (String, Table) {
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
