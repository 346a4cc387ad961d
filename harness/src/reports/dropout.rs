//! The dropout study's report (`study/dropout/report.json`, `summary.md`,
//! `results.csv`): per rate, how well the one-shot model ranks a uniform sample of
//! architectures against stand-alone training, what the supernet learns (KL divergence)
//! and whether it favours large architectures.

use serde::{Deserialize, Serialize};

use super::{NoiseFloor, NoiseSources, Provenance, Spread, failures_table};
use crate::export::{Cell, Table};
use crate::records::Failure;
use crate::stats::{Agreement, Estimate, Permutation, RESAMPLES, TopK, mean_std};

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
    /// With 2 or more supernets: each supernet's one-shot losses, in the same order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub losses_by_supernet: Vec<Vec<f64>>,
    /// With 2 or more supernets: the one-shot noise floor, how far supernets that differ
    /// only in their seeds agree on the sample (the fields' "seeds" are supernets, and
    /// `ceiling` bounds any correlation with the mean one-shot score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_shot_noise: Option<NoiseFloor>,
    /// With 2 or more supernets: the same noise floor with each architecture scored by
    /// minus its one-shot loss instead of its accuracy (`None` in reports older than this
    /// field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_shot_loss_noise: Option<NoiseFloor>,
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
    /// The one-shot accuracy of each architecture of the selection sample (mean over the
    /// rate's supernets), in the order of [`DropoutReport::selection_archs`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selection_scores: Vec<f64>,
    /// One-shot vs stand-alone validation accuracy over the selection sample: what the
    /// rate is chosen by (`None` without a selection sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Agreement>,
    /// Over the reported sample, against stand-alone test accuracy:
    /// `Spearman(one-shot) - Spearman(params)`, with a paired bootstrap interval (the
    /// same resamples for both): does the one-shot model rank better than counting
    /// parameters?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_difference: Option<Estimate>,
    /// The same for multiply-adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macs_difference: Option<Estimate>,
    /// Multiply-adds vs one-shot accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macs_vs_one_shot: Option<Agreement>,
    /// The one-shot top `study.top_k` of the reported sample against its best and
    /// against random picks, in stand-alone test accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<TopK>,
    /// With 2 or more supernets: the one-shot score's noise split into supernet seeds
    /// and validation images, and what more supernets or images would give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_shot_sources: Option<NoiseSources>,
    /// With the short-training baseline (`study.proxy`): over the reported sample,
    /// against stand-alone test accuracy, `Spearman(one-shot) - Spearman(baseline)` with
    /// a paired bootstrap interval: does the one-shot model rank better than training
    /// each architecture briefly?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_difference: Option<Estimate>,
}

/// The short-training baseline (`study.proxy`) over the reported sample: each
/// architecture trained from scratch for `steps` steps once per seed and scored as the
/// one-shot model is (validation images, batch statistics).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxyBaseline {
    /// Training steps per architecture and seed.
    pub steps: usize,
    /// Trainings per architecture.
    pub seeds: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Learning rate (cosine schedule over the steps).
    pub lr: f64,
    /// The first training's seed (the others follow it).
    pub seed: u64,
    /// The baseline's score of each architecture: validation accuracy, mean over the
    /// seeds, in the order of [`DropoutReport::archs`].
    pub scores: Vec<f64>,
    /// Each seed's validation accuracies (one list per seed, in the same order).
    pub by_seed: Vec<Vec<f64>>,
    /// The baseline vs stand-alone test accuracy (mean over seeds).
    pub test_correlation: Agreement,
    /// With 2 or more seeds: how far two of its trainings agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<NoiseFloor>,
    /// Trainings done in this invocation (the rest were read back from the run
    /// directory).
    pub trained: usize,
    /// Wall time of the baseline in this invocation, in seconds.
    pub seconds: f64,
}

/// How the reported rate was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChosenRate {
    /// The rate.
    pub rate: f64,
    /// Whether it was chosen on a sample disjoint from the reported one (the selection
    /// sample). Without one it is chosen on the reported sample's validation accuracy,
    /// and the report says its figures are selected on the same architectures.
    pub disjoint: bool,
    /// The Spearman it was chosen by.
    pub spearman: Estimate,
    /// Architectures it was chosen on.
    pub n: usize,
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

impl SampledArch {
    /// Mean stand-alone validation accuracy over the seeds.
    pub fn mean_validation(&self) -> f64 {
        self.standalone.iter().sum::<f64>() / self.standalone.len().max(1) as f64
    }

    /// Mean stand-alone test accuracy over the seeds.
    pub fn mean_test(&self) -> f64 {
        self.test.iter().sum::<f64>() / self.test.len().max(1) as f64
    }
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
    /// The selection sample: uniformly sampled architectures disjoint from `archs` (the
    /// next `study.select_archs` of the same seeded sequence), on which the rate is
    /// chosen; empty when `study.select_archs = 0`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selection_archs: Vec<SampledArch>,
    /// The rate the reported figures are given at, and how it was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<ChosenRate>,
    /// Does the rate change the ranking? A permutation test over the reported sample
    /// against stand-alone test accuracy (see `stats::rate_permutation_test`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_test: Option<Permutation>,
    /// Multiply-adds vs stand-alone test accuracy over the reported sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macs_vs_standalone: Option<Agreement>,
    /// The stand-alone noise floor on the test images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_noise: Option<NoiseFloor>,
    /// Validation images behind each stand-alone and one-shot validation accuracy.
    #[serde(default)]
    pub validation_images: usize,
    /// Test images behind each stand-alone test accuracy.
    #[serde(default)]
    pub test_images: usize,
    /// Stand-alone noise on validation accuracy, split into training seed and images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<NoiseSources>,
    /// The same on test accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_sources: Option<NoiseSources>,
    /// The short-training baseline (`study.proxy`), if it was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyBaseline>,
}

impl DropoutReport {
    /// The result of the chosen rate (`None` in reports older than the choice).
    pub fn chosen_rate(&self) -> Option<&RateResult> {
        let c = self.chosen.as_ref()?;
        self.rates.iter().find(|r| r.rate == c.rate)
    }
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
        (
            "spearman_selection",
            "Spearman on the selection sample [95% CI]",
        ),
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
            Cell::text(
                x.selection
                    .as_ref()
                    .map_or("n/a".to_string(), |a| a.spearman.text()),
            ),
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
         {} uniformly sampled architectures (the reported sample{}), each scored one-shot by \
         {} per path-dropout rate and trained stand-alone with {} seed(s); {} validation \
         and {} test images; backend `{}`, seed {}, {:.0} s in this invocation. \
         Correlations are of one-shot accuracy with stand-alone validation accuracy (mean \
         over seeds) over the reported sample, with 95% bootstrap intervals ({} \
         resamples); \"vs test\": with stand-alone test accuracy (mean over seeds) \
         instead; \"by loss\": of minus the one-shot loss (cross-entropy) instead of \
         one-shot accuracy.\n\n{}\n\
         Stand-alone accuracy over the sample: {:.4} ± {:.4}, range {:.4}..{:.4}.\n\n",
        r.archs.len(),
        if r.selection_archs.is_empty() {
            String::new()
        } else {
            format!(
                "; {} more, disjoint from them, form the selection sample the rate is \
                 chosen on",
                r.selection_archs.len()
            )
        },
        match supernets {
            1 => "one supernet".to_string(),
            n => format!(
                "{n} supernets (seeds moved by 0..{}; the mean score)",
                n - 1
            ),
        },
        r.seeds,
        r.validation_images,
        r.test_images,
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
    md.push_str(&chosen_section(r));
    md.push_str(&ranges_section(r));
    if r.rates.iter().any(|x| x.one_shot_noise.is_some()) {
        md.push_str(&one_shot_noise_section(r));
    }
    md.push_str(&sources_section(r));
    if let Some(p) = &r.proxy {
        md.push_str(&proxy_section(r, p));
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
    let mut columns = vec![
        ("rate", "r_max"),
        ("arch", "architecture"),
        ("one_shot", "one-shot"),
        ("one_shot_loss", "one-shot loss"),
        ("kl", "symmetric KL"),
        ("standalone", "stand-alone val (mean over seeds)"),
        ("params", "params"),
        ("macs", "MACs"),
    ];
    if r.proxy.is_some() {
        columns.push((
            "baseline",
            "short training from scratch (val, mean over seeds)",
        ));
    }
    let mut rows = Table::new(&columns);
    for x in &r.rates {
        for (i, (a, score)) in r.archs.iter().zip(&x.scores).enumerate() {
            let mut row = vec![
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
            ];
            if let Some(p) = &r.proxy {
                row.push(Cell::opt(p.scores.get(i).copied(), 4));
            }
            rows.push(row);
        }
    }
    (md, rows)
}

/// The short-training baseline: how it ranks, how it agrees with itself, and the paired
/// difference of every rate's one-shot model to it.
fn proxy_section(r: &DropoutReport, p: &ProxyBaseline) -> String {
    let mut t = Table::new(&[
        ("rate", "r_max"),
        ("one_shot", "Spearman(one-shot), vs test"),
        ("difference", "one-shot minus baseline (paired) [95% CI]"),
    ]);
    for x in &r.rates {
        t.push(vec![
            Cell::Num(x.rate, 3),
            Cell::text(
                x.test_correlation
                    .as_ref()
                    .map_or("n/a".to_string(), |a| a.spearman.text()),
            ),
            Cell::text(x.proxy_difference.map_or("n/a".into(), |e| e.text())),
        ]);
    }
    let noise = match &p.noise {
        Some(n) => format!(
            " Two of its trainings (seeds {} and {}) agree at Spearman {}.",
            p.seed,
            p.seed + 1,
            n.seed_to_seed.spearman.text()
        ),
        None => String::new(),
    };
    format!(
        "## A baseline: a short training from scratch\n\nEach reported architecture trained \
         from fresh weights for {} steps of {} images (learning rate {}, cosine), {} \
         time(s) with seeds from {}, and scored like the one-shot model (the validation \
         images, batch statistics); its score is the mean over the trainings. It costs {} \
         training steps per architecture, no supernet. It ranks the reported sample at \
         Spearman {} (Kendall {}) against stand-alone test accuracy.{noise} The one-shot \
         model is worth its supernet where it ranks better than this at the same data; \
         the paired differences (the same bootstrap resamples for both):\n\n{}\n",
        p.steps,
        p.batch_size,
        p.lr,
        p.seeds,
        p.seed,
        p.steps * p.seeds,
        p.test_correlation.spearman.text(),
        p.test_correlation.kendall.text(),
        t.to_markdown()
    )
}

/// The one-shot noise floor of every rate with 2 or more supernets: how well supernets
/// that differ only in their seeds agree, and what that leaves of any correlation.
fn one_shot_noise_section(r: &DropoutReport) -> String {
    let mut t = Table::new(&[
        ("rate", "r_max"),
        ("supernets", "supernets"),
        ("seed_to_seed", "supernet 1 vs 2: Spearman [95% CI]"),
        ("loss_seed_to_seed", "the same, by loss"),
        ("halves", "mean of half the supernets vs the other half"),
        ("seed_std", "std between supernets"),
        ("between_std", "std between architectures"),
        ("ceiling", "one-shot ceiling [95% CI]"),
        ("both", "ceiling with stand-alone noise"),
    ]);
    let standalone = r.noise.as_ref().and_then(|n| n.ceiling);
    for x in &r.rates {
        let Some(n) = &x.one_shot_noise else { continue };
        t.push(vec![
            Cell::Num(x.rate, 3),
            Cell::Int(n.seeds as u64),
            Cell::text(n.seed_to_seed.spearman.text()),
            Cell::text(
                x.one_shot_loss_noise
                    .as_ref()
                    .map_or("n/a".into(), |l| l.seed_to_seed.spearman.text()),
            ),
            Cell::text(n.halves.as_ref().map_or_else(
                || "n/a (fewer than 4)".into(),
                |h| {
                    format!("{} (by loss {})", h.spearman.text(), {
                        x.one_shot_loss_noise
                            .as_ref()
                            .and_then(|l| l.halves.as_ref())
                            .map_or("n/a".into(), |l| l.spearman.text())
                    })
                },
            )),
            Cell::Num(n.seed_std, 4),
            Cell::Num(n.between_std, 4),
            Cell::text(n.ceiling_text()),
            Cell::opt(n.ceiling.zip(standalone).map(|(a, b)| a * b), 2),
        ]);
    }
    format!(
        "## One-shot noise floor\n\nThe same architectures scored by supernets that differ \
         only in their seeds (initial weights, data order, path masks). \"Std between \
         supernets\": how they disagree about an architecture once each supernet's own level \
         (its mean over the architectures) is removed, since a supernet that scores every \
         architecture lower ranks them no differently. \"One-shot ceiling\": \
         the highest correlation any stand-alone ranking could reach with the mean one-shot \
         score given this noise (the square root of its Spearman-Brown reliability, from the \
         mean Spearman between every pair of supernets); \"by loss\": the same supernets \
         compared by their one-shot losses instead of accuracies; \"half vs the other half\": with \
         4 or more supernets, the mean score of the first half against the mean of as many \
         more, measured, not projected; \"with stand-alone noise\": that \
         times the stand-alone ceiling, the most the correlations above could show if the \
         one-shot model ranked perfectly.\n\n{}\n",
        t.to_markdown()
    )
}

/// The chosen rate: how it was chosen, and every figure of the reported sample at it
/// against stand-alone test accuracy; then whether the rate matters at all.
fn chosen_section(r: &DropoutReport) -> String {
    let mut md = String::from("## The chosen rate\n\n");
    let (Some(c), Some(x)) = (&r.chosen, r.chosen_rate()) else {
        md.push_str("No rate could be chosen (no correlation was defined).\n\n");
        return md;
    };
    if c.disjoint {
        md.push_str(&format!(
            "r = {} has the highest Spearman on the selection sample ({}, n = {}), \
             uniformly sampled architectures disjoint from the reported ones, against their \
             stand-alone validation accuracy. The figures below are over the reported \
             sample against stand-alone test accuracy: neither its architectures nor its \
             test images took part in the choice.\n\n",
            c.rate,
            c.spearman.text(),
            c.n
        ));
    } else {
        md.push_str(&format!(
            "r = {} has the highest Spearman against stand-alone validation accuracy on the \
             reported sample itself ({}, n = {}): there is no selection sample \
             (`study.select_archs = 0`), so the figures below are selected on the same \
             architectures they report (the test images did not take part) and are biased \
             upwards.\n\n",
            c.rate,
            c.spearman.text(),
            c.n
        ));
    }
    let mut t = Table::new(&[("what", "at the chosen rate"), ("value", "value [95% CI]")]);
    let text = |a: &Option<Agreement>, f: fn(&Agreement) -> Estimate| {
        a.as_ref().map_or("n/a".to_string(), |a| f(a).text())
    };
    let rows: Vec<(String, String)> = vec![
        (
            "Spearman, one-shot vs stand-alone test".into(),
            text(&x.test_correlation, |a| a.spearman),
        ),
        (
            "Kendall tau-b, one-shot vs stand-alone test".into(),
            text(&x.test_correlation, |a| a.kendall),
        ),
        (
            "Spearman(one-shot) minus Spearman(params), vs test (paired)".into(),
            x.params_difference.map_or("n/a".into(), |e| e.text()),
        ),
        (
            "Spearman(one-shot) minus Spearman(MACs), vs test (paired)".into(),
            x.macs_difference.map_or("n/a".into(), |e| e.text()),
        ),
    ];
    let rows: Vec<(String, String)> = rows
        .into_iter()
        .chain(r.proxy.as_ref().zip(x.proxy_difference).map(|(p, d)| {
            (
                format!(
                    "Spearman(one-shot) minus Spearman(a {}-step training from scratch), \
                     vs test (paired)",
                    p.steps
                ),
                d.text(),
            )
        }))
        .chain([
            (
                "Spearman(params, stand-alone val)".into(),
                r.params_vs_standalone.spearman.text(),
            ),
            (
                "Spearman(MACs, stand-alone test)".into(),
                text(&r.macs_vs_standalone, |a| a.spearman),
            ),
        ])
        .collect();
    for (what, value) in rows {
        t.push(vec![Cell::text(what), Cell::text(value)]);
    }
    if let Some(k) = &x.top {
        t.push(vec![
            Cell::text(format!(
                "stand-alone test of the one-shot top {} (mean) minus the sample mean (= {} \
                 random picks, in expectation)",
                k.k, k.k
            )),
            Cell::text(format!(
                "{} ({:.4} against {:.4})",
                k.gain.text(),
                k.top_mean,
                k.random_mean
            )),
        ]);
        t.push(vec![
            Cell::text(format!(
                "regret: the sample's best minus the best of the one-shot top {}",
                k.k
            )),
            Cell::text(format!(
                "{} ({:.4} against {:.4}, of {} architectures)",
                k.regret.text(),
                k.top_best,
                k.sample_best,
                k.n
            )),
        ]);
    }
    md.push_str(&t.to_markdown());
    md.push('\n');
    match &r.rate_test {
        Some(p) => md.push_str(&format!(
            "Does the rate matter? Over the reported sample against test accuracy, the \
             Spearmans of the rates span {:.3} (largest minus smallest); shuffling each \
             architecture's within-rate ranks across the rates ({} permutations: the null \
             hypothesis that the rate does not change the ranking) gives a span at least as \
             wide with p = {:.3}.\n\n",
            p.statistic, p.permutations, p.p_value
        )),
        None => md.push_str("Rate dependence: not tested (one rate).\n\n"),
    }
    md
}

/// The paper's figure 5 as numbers: the one-shot and stand-alone ranges per rate.
fn ranges_section(r: &DropoutReport) -> String {
    let test: Vec<f64> = r.archs.iter().map(SampledArch::mean_test).collect();
    let sa = super::Spread::of(&test);
    let mut t = Table::new(&[
        ("rate", "r_max"),
        ("one_shot", "one-shot range"),
        ("one_shot_span", "one-shot span"),
        ("standalone", "stand-alone test range"),
        ("standalone_span", "stand-alone span"),
        ("ratio", "span ratio"),
    ]);
    for x in &r.rates {
        let span = x.one_shot.max - x.one_shot.min;
        t.push(vec![
            Cell::Num(x.rate, 3),
            Cell::text(format!("{:.4}..{:.4}", x.one_shot.min, x.one_shot.max)),
            Cell::Num(span, 4),
            Cell::text(format!("{:.4}..{:.4}", sa.min, sa.max)),
            Cell::Num(sa.max - sa.min, 4),
            Cell::Num(span / (sa.max - sa.min).max(f64::MIN_POSITIVE), 1),
        ]);
    }
    format!(
        "## Ranges (the paper's figure 5)\n\nIn the paper, one-shot accuracies spread much \
         wider than the stand-alone accuracies they rank: the one-shot model ranks, it \
         does not estimate accuracy. Here, per rate, over the reported sample (\"span \
         ratio\": the one-shot span over the stand-alone one). `plots/figure5.svg` plots \
         every rate on shared axes, each fitted to its own quantity's range.\n\n{}\n",
        t.to_markdown()
    )
}

/// Where the noise comes from, and what other numbers of seeds, supernets and images
/// would give.
fn sources_section(r: &DropoutReport) -> String {
    let mut md = String::from(
        "## Where the noise comes from\n\nEach accuracy's variance between runs of one \
         architecture (stand-alone seeds, or supernets) split into training and \
         evaluation images, against the architectures' real spread. The evaluation part \
         is the bootstrap variance over images of each model's accuracy, p(1 - p)/N; it \
         treats models as erring on independent images, so it is an upper estimate (and \
         the training part a lower one). For supernets, each supernet's own level (its \
         mean over the architectures) is removed first: it shifts every architecture alike \
         and changes no ranking. Standard deviations in accuracy points x 100.\n\n",
    );
    let mut t = Table::new(&[
        ("what", "measured"),
        ("runs", "runs"),
        ("images", "images"),
        ("training", "training std"),
        ("evaluation", "evaluation std"),
        ("architectures", "architecture std"),
        ("reliability", "reliability of the mean"),
    ]);
    let mut rows: Vec<(String, &NoiseSources)> = Vec::new();
    if let Some(s) = &r.sources {
        rows.push(("stand-alone, validation".into(), s));
    }
    if let Some(s) = &r.test_sources {
        rows.push(("stand-alone, test".into(), s));
    }
    for x in &r.rates {
        if let Some(s) = &x.one_shot_sources {
            rows.push((format!("one-shot, r = {}", x.rate), s));
        }
    }
    if rows.is_empty() {
        md.push_str(
            "Not measured: it needs 2 or more stand-alone seeds (`retrain.seeds`) or \
             supernets per rate (`study.supernet_seeds`).\n\n",
        );
        return md;
    }
    for (what, s) in &rows {
        t.push(vec![
            Cell::text(what.clone()),
            Cell::Int(s.runs as u64),
            Cell::Int(s.images as u64),
            Cell::Num(100.0 * s.training_var.sqrt(), 2),
            Cell::Num(100.0 * s.evaluation_var.sqrt(), 2),
            Cell::Num(100.0 * s.architecture_var.sqrt(), 2),
            Cell::Num(s.reliability, 2),
        ]);
    }
    md.push_str(&t.to_markdown());
    md.push_str(
        "\nProjected ceilings (square root of the reliability of the mean over that many \
         runs, each on that many images), from the variances above:\n\n",
    );
    let mut p = Table::new(&[
        ("what", "measured"),
        ("images", "images"),
        ("r1", "1 run"),
        ("r2", "2"),
        ("r3", "3"),
        ("r5", "5"),
        ("r8", "8"),
    ]);
    for (what, s) in &rows {
        let mut sizes: Vec<usize> = s.projections.iter().map(|p| p.images).collect();
        sizes.dedup();
        for n in sizes {
            let mut row = vec![Cell::text(what.clone()), Cell::Int(n as u64)];
            for k in [1, 2, 3, 5, 8] {
                row.push(Cell::opt(s.projection(k, n).map(|p| p.ceiling), 2));
            }
            p.push(row);
        }
    }
    md.push_str(&p.to_markdown());
    md.push('\n');
    // Sizing: both sides together at the chosen rate.
    let one_shot = r.chosen_rate().and_then(|x| x.one_shot_sources.as_ref());
    if let (Some(sa), Some(os), Some(c)) = (&r.test_sources, one_shot, &r.chosen) {
        let mut g = Table::new(&[
            ("seeds", "stand-alone seeds \\ supernets"),
            ("s1", "1"),
            ("s2", "2"),
            ("s3", "3"),
            ("s5", "5"),
            ("s8", "8"),
        ]);
        for k in [1, 2, 3, 5, 8] {
            let mut row = vec![Cell::Int(k as u64)];
            for n in [1, 2, 3, 5, 8] {
                let both = sa
                    .projection(k, sa.images)
                    .zip(os.projection(n, os.images))
                    .map(|(a, b)| a.ceiling * b.ceiling);
                row.push(Cell::opt(both, 2));
            }
            g.push(row);
        }
        md.push_str(&format!(
            "Both sides at the chosen rate (r = {}): the projected ceiling of an observed \
             correlation, stand-alone test ceiling times one-shot ceiling, for each number of \
             stand-alone seeds and supernets ({} test and {} validation images): an estimate of \
             the most an observed correlation can show even if the one-shot model ranks \
             without bias; where a target is missed, this says which side to pay for.\n\n{}\n",
            c.rate,
            sa.images,
            os.images,
            g.to_markdown()
        ));
    }
    md
}
