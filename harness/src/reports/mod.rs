//! Everything that describes a result: the run's report (`run`), the dropout study's
//! (`dropout`), the strategy comparison's (`compare`) and the whole study's (`all`),
//! with the [`provenance`] every report embeds. The phases compute and return records;
//! these modules turn them into JSON, Markdown, CSV and plots.

pub mod all;
pub mod compare;
pub mod dropout;
pub mod provenance;
pub mod run;

use serde::{Deserialize, Serialize};

use crate::export::{Cell, Table};
use crate::records::{Failure, Retrained};
use crate::stats::{Agreement, RESAMPLES, mean_std};

pub use provenance::Provenance;
pub use run::{Group, Report};

/// Mean, standard deviation and range of one quantity over a group of architectures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation.
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (NaN where empty).
    pub fn of(values: &[f64]) -> Spread {
        let (mean, std) = mean_std(values);
        let (min, max) = values
            .iter()
            .fold((f64::NAN, f64::NAN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        Spread {
            mean,
            std,
            min,
            max,
        }
    }
}

/// How much stand-alone accuracy moves between training seeds of one architecture,
/// against how much it differs between architectures: the ceiling on any achievable
/// one-shot vs stand-alone correlation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseFloor {
    /// Architectures trained with several seeds.
    pub architectures: usize,
    /// Seeds per architecture.
    pub seeds: usize,
    /// Pooled standard deviation of validation accuracy between seeds of one
    /// architecture: `sqrt(mean of the per-architecture variances)`.
    pub seed_std: f64,
    /// Standard deviation of the per-architecture mean accuracies.
    pub between_std: f64,
    /// The first seed's validation accuracies against the second's, over the
    /// architectures: how well one stand-alone training ranks another's.
    pub seed_to_seed: Agreement,
    /// The highest correlation any predictor could reach with the mean over `seeds`
    /// trainings, given this noise: `sqrt(R)`, where `R = k r / (1 + (k - 1) r)` is the
    /// Spearman-Brown reliability of a mean of `k` trainings and `r` the mean Spearman
    /// between every pair of seeds (`None` where `r` is not positive).
    #[serde(default)]
    pub ceiling: Option<f64>,
    /// The ceiling's 95% bootstrap interval over the architectures: an estimate from a
    /// finite sample, not a bound (`None` in reports older than this field, or where
    /// fewer than half the resamples define it).
    #[serde(default)]
    pub ceiling_ci95: Option<(f64, f64)>,
    /// With 4 or more seeds: the mean of the first half of the seeds against the mean of
    /// the second half, over the architectures. A direct measurement (no projection) of
    /// how two independent means of that many runs agree (`None` with fewer seeds, and in
    /// reports older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halves: Option<Agreement>,
    /// The mean Spearman between every pair of seeds over the architectures: how one
    /// run agrees with another, on average (`None` in reports older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair_mean: Option<f64>,
}

/// The mean Spearman between every pair of the first `seeds` runs of each architecture
/// (`None` without a defined pair).
fn pair_mean(runs: &[Vec<f64>], seeds: usize) -> Option<f64> {
    let mut pairs = Vec::new();
    for i in 0..seeds {
        for j in i + 1..seeds {
            let a: Vec<f64> = runs.iter().map(|v| v[i]).collect();
            let b: Vec<f64> = runs.iter().map(|v| v[j]).collect();
            pairs.extend(crate::stats::spearman(&a, &b));
        }
    }
    (!pairs.is_empty()).then(|| pairs.iter().sum::<f64>() / pairs.len() as f64)
}

/// How many runs each of two independent means needs for the two to agree at Spearman
/// `target`, by the Spearman-Brown formula `k r / (1 + (k - 1) r)` from the mean
/// agreement `r` of two single runs: the least `k` with `k >= target (1 - r) / (r (1 -
/// target))` (`None` where `r` is not positive).
pub fn runs_to_agree(r: f64, target: f64) -> Option<usize> {
    if r <= 0.0 || !(0.0..1.0).contains(&target) {
        return None;
    }
    let k = target * (1.0 - r) / (r * (1.0 - target));
    // Within rounding of a whole number, that number is enough.
    Some((k - 1e-9).ceil().max(1.0) as usize)
}

/// The Spearman-Brown ceiling of the mean of the first `seeds` runs of each
/// architecture: `sqrt(k r / (1 + (k - 1) r))`, `r` the mean Spearman between every
/// pair of seeds over the architectures (`None` where `r` is not positive).
fn ceiling(runs: &[Vec<f64>], seeds: usize) -> Option<f64> {
    let r = pair_mean(runs, seeds)?;
    let k = seeds as f64;
    (r > 0.0).then(|| (k * r / (1.0 + (k - 1.0) * r)).sqrt())
}

impl NoiseFloor {
    /// The noise floor of the architectures retrained with 2 or more seeds (`None` with
    /// fewer than 3 such architectures).
    pub fn of(retrained: &[Retrained], seed: u64) -> Option<NoiseFloor> {
        let runs: Vec<Vec<f64>> = retrained
            .iter()
            .map(Retrained::validation_by_seed)
            .collect();
        NoiseFloor::of_runs(&runs, seed)
    }

    /// The noise floor of architectures given as their accuracies by seed (those with
    /// fewer than 2 seeds are left out; `None` with fewer than 3 left).
    pub fn of_runs(runs: &[Vec<f64>], seed: u64) -> Option<NoiseFloor> {
        let runs: Vec<Vec<f64>> = runs.iter().filter(|v| v.len() >= 2).cloned().collect();
        let seeds = runs.iter().map(|v| v.len()).min()?;
        if runs.len() < 3 {
            return None;
        }
        let variances: Vec<f64> = runs.iter().map(|v| mean_std(v).1.powi(2)).collect();
        let means: Vec<f64> = runs.iter().map(|v| mean_std(v).0).collect();
        let first: Vec<f64> = runs.iter().map(|v| v[0]).collect();
        let second: Vec<f64> = runs.iter().map(|v| v[1]).collect();
        let halves = (seeds >= 4)
            .then(|| {
                let half = seeds / 2;
                let mean_of = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
                let a: Vec<f64> = runs.iter().map(|v| mean_of(&v[..half])).collect();
                let b: Vec<f64> = runs.iter().map(|v| mean_of(&v[half..2 * half])).collect();
                Agreement::of(&a, &b, RESAMPLES, seed).ok()
            })
            .flatten();
        Some(NoiseFloor {
            halves,
            pair_mean: pair_mean(&runs, seeds),
            architectures: runs.len(),
            seeds,
            seed_std: (variances.iter().sum::<f64>() / variances.len() as f64).sqrt(),
            between_std: mean_std(&means).1,
            seed_to_seed: Agreement::of(&first, &second, RESAMPLES, seed).ok()?,
            ceiling: ceiling(&runs, seeds),
            ceiling_ci95: crate::stats::bootstrap_items(
                &runs,
                |r| ceiling(r, seeds),
                RESAMPLES,
                seed,
            ),
        })
    }

    /// `0.89 [0.71, 0.97]`, `0.89` without an interval, or `n/a`.
    pub fn ceiling_text(&self) -> String {
        match (self.ceiling, self.ceiling_ci95) {
            (Some(c), Some((lo, hi))) => format!("{c:.2} [{lo:.2}, {hi:.2}]"),
            (Some(c), None) => format!("{c:.2}"),
            _ => "n/a".to_string(),
        }
    }

    /// What the noise floor says, in a sentence.
    pub fn sentence(&self) -> String {
        format!(
            "Stand-alone noise floor over {} random architectures trained with {} seeds each: \
             seed standard deviation {:.4}, against {:.4} between the architectures' means; \
             seed 1 vs seed 2 over the architectures: {}. No one-shot ranking can agree \
             with a single stand-alone training much better than two trainings agree with \
             each other.{}",
            self.architectures,
            self.seeds,
            self.seed_std,
            self.between_std,
            self.seed_to_seed.text(),
            self.ceiling.map_or(String::new(), |c| format!(
                " Against the mean of {} trainings, the ceiling on any correlation is \
                 estimated at {c:.2}{} (Spearman-Brown, from the mean seed-to-seed Spearman; \
                 an estimate from this sample, not a bound).",
                self.seeds,
                self.ceiling_ci95
                    .map_or(String::new(), |(lo, hi)| format!(" [{lo:.2}, {hi:.2}]"))
            ))
        )
    }
}

/// Where the noise of a measured accuracy comes from: the model's training (its seed,
/// or for one-shot scores the supernet's seeds) and the finite sample of evaluation
/// images, against the real differences between architectures; and what other numbers
/// of seeds and images would give.
///
/// The evaluation part is the bootstrap variance over images of each model's accuracy,
/// `p (1 - p) / N`, averaged over the models. It treats models as erring on independent
/// images; real models share their hard images, so this is an upper estimate of the
/// evaluation part (and a lower one of the training part). Variances are of accuracies
/// (fractions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseSources {
    /// Evaluation images behind each accuracy.
    pub images: usize,
    /// Runs (seeds, or supernets) per architecture.
    pub runs: usize,
    /// Architectures.
    pub architectures: usize,
    /// Pooled variance between runs of one architecture (training + evaluation).
    pub within_var: f64,
    /// Its evaluation part: the mean over models of `p (1 - p) / images`.
    pub evaluation_var: f64,
    /// Its training part: `within_var - evaluation_var` (0 when negative).
    pub training_var: f64,
    /// Variance of the architectures' mean accuracies (over `runs`).
    pub between_var: f64,
    /// The architectures' real spread: `between_var - within_var / runs` (0 when
    /// negative).
    pub architecture_var: f64,
    /// The reliability of the mean over `runs`: `architecture_var / between_var`.
    pub reliability: f64,
    /// What other designs would give (seeds or supernets, evaluation images).
    pub projections: Vec<Projection>,
}

/// The reliability and ceiling of a mean over `runs` models each evaluated on `images`
/// images, projected from measured [`NoiseSources`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// Runs (seeds or supernets) per architecture.
    pub runs: usize,
    /// Evaluation images.
    pub images: usize,
    /// `architecture_var / (architecture_var + (training_var + evaluation_var at
    /// images) / runs)`.
    pub reliability: f64,
    /// Its square root: the highest correlation such a measurement can reach with a
    /// noise-free one.
    pub ceiling: f64,
}

impl NoiseSources {
    /// The sources of noise of architectures' accuracies by run (`runs[a][k]`), each
    /// measured on `images` images; `None` with fewer than 3 architectures of 2 or more
    /// runs, or without images. Projections for 1, 2, 3, 5 and 8 runs on the measured
    /// number of images and on each of `other_images`.
    pub fn of(runs: &[Vec<f64>], images: usize, other_images: &[usize]) -> Option<Self> {
        let runs: Vec<&Vec<f64>> = runs.iter().filter(|v| v.len() >= 2).collect();
        let k = runs.iter().map(|v| v.len()).min()?;
        if runs.len() < 3 || images == 0 {
            return None;
        }
        let within_var = runs
            .iter()
            .map(|v| mean_std(&v[..k]).1.powi(2))
            .sum::<f64>()
            / runs.len() as f64;
        let evaluation_var = runs
            .iter()
            .flat_map(|v| v[..k].iter())
            .map(|p| p * (1.0 - p) / images as f64)
            .sum::<f64>()
            / (runs.len() * k) as f64;
        let training_var = (within_var - evaluation_var).max(0.0);
        let means: Vec<f64> = runs.iter().map(|v| mean_std(&v[..k]).0).collect();
        let between_var = mean_std(&means).1.powi(2);
        let architecture_var = (between_var - within_var / k as f64).max(0.0);
        let project = |runs: usize, n: usize| {
            let noise = (training_var + evaluation_var * images as f64 / n as f64) / runs as f64;
            let reliability = if architecture_var > 0.0 {
                architecture_var / (architecture_var + noise)
            } else {
                0.0
            };
            Projection {
                runs,
                images: n,
                reliability,
                ceiling: reliability.sqrt(),
            }
        };
        let mut sizes = vec![images];
        sizes.extend(
            other_images
                .iter()
                .copied()
                .filter(|&n| n > 0 && n != images),
        );
        let projections = sizes
            .iter()
            .flat_map(|&n| [1, 2, 3, 5, 8].map(|r| project(r, n)))
            .collect();
        Some(NoiseSources {
            images,
            runs: k,
            architectures: runs.len(),
            within_var,
            evaluation_var,
            training_var,
            between_var,
            architecture_var,
            reliability: if between_var > 0.0 {
                architecture_var / between_var
            } else {
                0.0
            },
            projections,
        })
    }

    /// The projection for `runs` runs on `images` images, if computed.
    pub fn projection(&self, runs: usize, images: usize) -> Option<Projection> {
        self.projections
            .iter()
            .find(|p| p.runs == runs && p.images == images)
            .copied()
    }
}

/// The failed stand-alone trainings, one row each.
pub fn failures_table(failed: &[Failure]) -> Table {
    let mut t = Table::new(&[
        ("arch", "architecture"),
        ("key", "training"),
        ("reason", "why"),
    ]);
    for f in failed {
        t.push(vec![
            Cell::code(f.arch.clone()),
            Cell::code(f.key.clone()),
            Cell::text(f.reason.clone()),
        ]);
    }
    t
}

/// Warnings about one-shot scores that carry no ranking: all equal, or every one at
/// chance level (`1 / classes`, within 3 binomial standard errors on `examples` images),
/// the signs of a supernet that did not learn.
pub fn one_shot_warnings(scores: &[f64], classes: usize, examples: usize) -> Vec<String> {
    let mut w = Vec::new();
    let (Some(lo), Some(hi)) = (
        scores.iter().copied().reduce(f64::min),
        scores.iter().copied().reduce(f64::max),
    ) else {
        return w;
    };
    if scores.len() > 1 && hi - lo < 1e-12 {
        w.push(format!(
            "all {} one-shot accuracies are equal ({lo:.4}): they rank nothing",
            scores.len()
        ));
    }
    let chance = 1.0 / classes.max(1) as f64;
    let se = (chance * (1.0 - chance) / examples.max(1) as f64).sqrt();
    if hi <= chance + 3.0 * se {
        w.push(format!(
            "every one-shot accuracy is at chance level (at most {hi:.4}, chance {chance:.4} \
             for {classes} classes): the supernet did not learn; train it longer or check \
             its learning rate"
        ));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_sources_split_the_variance_and_project_ceilings() {
        // Three architectures, two runs each, on 1,000 images.
        let runs = vec![vec![0.80, 0.82], vec![0.84, 0.84], vec![0.86, 0.88]];
        let s = NoiseSources::of(&runs, 1000, &[4000]).unwrap();
        // Within: the mean of the per-architecture sample variances (0.0002, 0, 0.0002).
        assert!((s.within_var - 0.0004 / 3.0).abs() < 1e-12, "{s:?}");
        // Evaluation: the mean of p(1 - p) / 1000 over the six accuracies.
        let eval = [0.80, 0.82, 0.84, 0.84, 0.86, 0.88]
            .iter()
            .map(|p| p * (1.0 - p) / 1000.0)
            .sum::<f64>()
            / 6.0;
        assert!((s.evaluation_var - eval).abs() < 1e-15);
        // Here the binomial part exceeds what the runs differ by: no training part left.
        assert_eq!(s.training_var, 0.0);
        // Between: the variance of the means 0.81, 0.84, 0.87 is 0.0009.
        assert!((s.between_var - 0.0009).abs() < 1e-12);
        assert!((s.architecture_var - (0.0009 - s.within_var / 2.0)).abs() < 1e-12);
        assert!((s.reliability - s.architecture_var / s.between_var).abs() < 1e-12);
        // Projections: more runs or more images never lower the ceiling; four times the
        // images is a quarter of the evaluation variance.
        let p = |k, n| s.projection(k, n).unwrap();
        assert!(p(2, 1000).ceiling > p(1, 1000).ceiling);
        assert!(p(1, 4000).ceiling > p(1, 1000).ceiling);
        let want = s.architecture_var / (s.architecture_var + eval / 4.0);
        assert!((p(1, 4000).reliability - want).abs() < 1e-12);
        assert_eq!(s.projections.len(), 10);
        // Too little to say anything.
        assert!(NoiseSources::of(&runs[..2], 1000, &[]).is_none());
        assert!(NoiseSources::of(&[vec![0.8], vec![0.9], vec![0.7]], 1000, &[]).is_none());
    }

    #[test]
    fn the_noise_floor_ceiling_has_an_interval_around_it() {
        // Seeds that agree well on 12 architectures.
        let runs: Vec<Vec<f64>> = (0..12)
            .map(|i| {
                let m = 0.80 + 0.004 * i as f64;
                vec![
                    m + 0.001 * ((i % 3) as f64 - 1.0),
                    m - 0.001 * ((i % 2) as f64),
                ]
            })
            .collect();
        let n = NoiseFloor::of_runs(&runs, 4).unwrap();
        let c = n.ceiling.unwrap();
        let (lo, hi) = n.ceiling_ci95.unwrap();
        assert!(lo <= c && c <= hi && hi <= 1.0, "{c} [{lo}, {hi}]");
        assert!(n.sentence().contains("not a bound"));
    }

    #[test]
    fn four_runs_are_split_into_two_means_that_are_compared() {
        // The first two runs average to ranks 1 2 3 4, the last two to 1 3 2 4; the fifth
        // run is left out of the halves. Spearman 1 - 6 * 2 / (4 * 15) = 0.8.
        let first = [1.0, 2.0, 3.0, 4.0];
        let second = [1.0, 3.0, 2.0, 4.0];
        let runs: Vec<Vec<f64>> = (0..4)
            .map(|i| {
                vec![
                    first[i] + 0.5,
                    first[i] - 0.5,
                    second[i] - 0.25,
                    second[i] + 0.25,
                    10.0 - i as f64,
                ]
            })
            .collect();
        let n = NoiseFloor::of_runs(&runs, 0).unwrap();
        let halves = n.halves.unwrap();
        assert!(
            (halves.spearman.value.unwrap() - 0.8).abs() < 1e-12,
            "{halves:?}"
        );
        assert_eq!(halves.n, 4);
        // Fewer than 4 runs: no halves.
        let three: Vec<Vec<f64>> = runs.iter().map(|r| r[..3].to_vec()).collect();
        assert!(NoiseFloor::of_runs(&three, 0).unwrap().halves.is_none());
    }

    #[test]
    fn supernets_needed_for_two_means_to_agree_follow_spearman_brown() {
        // r = 0.5: k r / (1 + (k - 1) r) = 0.8 at k = 4 exactly.
        assert_eq!(runs_to_agree(0.5, 0.8), Some(4));
        // r = 0.468: 4 gives 0.779, 5 gives 0.815.
        assert_eq!(runs_to_agree(0.468, 0.8), Some(5));
        // r = 0.579: 2 gives 0.733, 3 gives 0.805.
        assert_eq!(runs_to_agree(0.579, 0.8), Some(3));
        // Single runs that already agree.
        assert_eq!(runs_to_agree(0.9, 0.8), Some(1));
        assert_eq!(runs_to_agree(0.0, 0.8), None);
        assert_eq!(runs_to_agree(-0.2, 0.8), None);
    }
}
