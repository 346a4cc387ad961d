//! Rank statistics, bootstrap intervals and summaries of result series.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Ranks from 1, ties sharing their mean rank.
fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut r = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && xs[idx[j + 1]] == xs[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Pearson's correlation; `None` for fewer than 2 points or a constant side.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Spearman's rank correlation (ties get mean ranks); `None` for fewer than 2 points
/// or a constant side.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    pearson(&ranks(x), &ranks(y))
}

/// Kendall's tau-b (accounts for ties); `None` for fewer than 2 points or a constant side.
pub fn kendall(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let (mut c, mut d, mut tx, mut ty) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let (a, b) = ((x[i] - x[j]).signum(), (y[i] - y[j]).signum());
            let (a, b) = (
                if x[i] == x[j] { 0.0 } else { a },
                if y[i] == y[j] { 0.0 } else { b },
            );
            if a == 0.0 && b == 0.0 {
                continue;
            } else if a == 0.0 {
                tx += 1.0;
            } else if b == 0.0 {
                ty += 1.0;
            } else if a == b {
                c += 1.0;
            } else {
                d += 1.0;
            }
        }
    }
    let denom = ((c + d + tx) * (c + d + ty)).sqrt();
    (denom > 0.0).then(|| (c - d) / denom)
}

/// Mean and sample standard deviation.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = xs.iter().sum::<f64>() / n;
    let v = if xs.len() > 1 {
        xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, v.sqrt())
}

/// A statistic with its bootstrap 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The statistic on the data (`None` where undefined: too few points, a constant side).
    pub value: Option<f64>,
    /// The 2.5% and 97.5% percentiles of the statistic over bootstrap resamples of the
    /// pairs (`None` where fewer than half the resamples define it).
    pub ci95: Option<(f64, f64)>,
}

impl Estimate {
    /// `0.512 [0.201, 0.744]`, or `n/a`.
    pub fn text(&self) -> String {
        match (self.value, self.ci95) {
            (Some(v), Some((lo, hi))) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
            (Some(v), None) => format!("{v:.3}"),
            _ => "n/a".to_string(),
        }
    }
}

/// How well one series predicts another: rank and linear correlations over the same
/// items, each with a bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Items (pairs) compared.
    pub n: usize,
    /// Spearman's rho.
    pub spearman: Estimate,
    /// Kendall's tau-b.
    pub kendall: Estimate,
    /// Pearson's r.
    pub pearson: Estimate,
    /// Bootstrap resamples behind the intervals.
    pub resamples: usize,
    /// Seed of the resampling.
    pub seed: u64,
}

/// A statistic of paired series.
type Statistic = fn(&[f64], &[f64]) -> Option<f64>;

/// Resamples used for every interval the reports print.
pub const RESAMPLES: usize = 2000;

impl Agreement {
    /// Spearman, Kendall and Pearson of `x` and `y` (paired), with percentile bootstrap
    /// intervals over `resamples` resamples of the pairs drawn with `seed`.
    pub fn of(x: &[f64], y: &[f64], resamples: usize, seed: u64) -> Agreement {
        let n = x.len().min(y.len());
        let (x, y) = (&x[..n], &y[..n]);
        let stats: [Statistic; 3] = [spearman, kendall, pearson];
        let mut draws: [Vec<f64>; 3] = Default::default();
        if n >= 3 {
            let mut rng = StdRng::seed_from_u64(seed);
            let (mut xs, mut ys) = (vec![0.0; n], vec![0.0; n]);
            for _ in 0..resamples {
                for i in 0..n {
                    let j = rng.random_range(0..n);
                    (xs[i], ys[i]) = (x[j], y[j]);
                }
                for (stat, out) in stats.iter().zip(draws.iter_mut()) {
                    out.extend(stat(&xs, &ys));
                }
            }
        }
        let estimate = |k: usize| Estimate {
            value: stats[k](x, y),
            ci95: percentile_interval(&mut draws[k].clone(), resamples),
        };
        Agreement {
            n,
            spearman: estimate(0),
            kendall: estimate(1),
            pearson: estimate(2),
            resamples,
            seed,
        }
    }

    /// `Spearman 0.51 [0.20, 0.74], Kendall ..., Pearson ... (n = 30)`.
    pub fn text(&self) -> String {
        format!(
            "Spearman {}, Kendall tau-b {}, Pearson {} (n = {})",
            self.spearman.text(),
            self.kendall.text(),
            self.pearson.text(),
            self.n
        )
    }
}

/// The 2.5% and 97.5% percentiles (nearest rank) of `draws`, or `None` when fewer than
/// half of the `attempts` gave a value.
fn percentile_interval(draws: &mut [f64], attempts: usize) -> Option<(f64, f64)> {
    if draws.is_empty() || draws.len() * 2 < attempts {
        return None;
    }
    draws.sort_by(f64::total_cmp);
    let at = |q: f64| draws[((q * draws.len() as f64).ceil() as usize).clamp(1, draws.len()) - 1];
    Some((at(0.025), at(0.975)))
}

/// Best-so-far curve of a sequence of scores.
pub fn best_so_far(scores: &[f64]) -> Vec<f64> {
    let mut best = f64::NEG_INFINITY;
    scores
        .iter()
        .map(|&s| {
            best = best.max(s);
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_correlations_on_known_cases() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((spearman(&x, &[2.0, 4.0, 6.0, 8.0, 10.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        // A monotone but non-linear relation is still rank-perfect.
        assert!((spearman(&x, &[1.0, 8.0, 27.0, 64.0, 125.0]).unwrap() - 1.0).abs() < 1e-12);
        // scipy.stats.spearmanr([1,2,3,4,5],[2,1,4,3,5]) = 0.8
        assert!((spearman(&x, &[2.0, 1.0, 4.0, 3.0, 5.0]).unwrap() - 0.8).abs() < 1e-12);
        // scipy.stats.kendalltau([1,2,3,4,5],[2,1,4,3,5]) = 0.6
        assert!((kendall(&x, &[2.0, 1.0, 4.0, 3.0, 5.0]).unwrap() - 0.6).abs() < 1e-12);
        // With ties: scipy.stats.kendalltau([1,2,2,3],[1,2,3,3]) = 0.8
        let t = kendall(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 3.0]).unwrap();
        assert!((t - 0.8).abs() < 1e-12, "{t}");
        // Pearson of the mid-ranks [1, 2.5, 2.5, 4] and [1, 2, 3.5, 3.5] = 3.75 / 4.5.
        let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 3.0]).unwrap();
        assert!((r - 5.0 / 6.0).abs() < 1e-12, "{r}");
        assert_eq!(spearman(&[1.0], &[1.0]), None);
        assert_eq!(kendall(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn agreement_has_intervals_that_contain_the_value_and_narrow_with_n() {
        // y = x + noise: a clear positive relation.
        let mut rng = StdRng::seed_from_u64(1);
        let make = |n: usize, rng: &mut StdRng| -> (Vec<f64>, Vec<f64>) {
            let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let y = x
                .iter()
                .map(|v| v + rng.random_range(-0.5..0.5) * n as f64)
                .collect();
            (x, y)
        };
        let (x, y) = make(20, &mut rng);
        let small = Agreement::of(&x, &y, 1000, 7);
        assert_eq!(small.n, 20);
        for e in [small.spearman, small.kendall, small.pearson] {
            let v = e.value.unwrap();
            let (lo, hi) = e.ci95.unwrap();
            assert!(lo <= v && v <= hi && lo < hi, "{v} not in [{lo}, {hi}]");
            assert!(v > 0.0);
        }
        // Same seed, same intervals.
        assert_eq!(small, Agreement::of(&x, &y, 1000, 7));
        let (x, y) = make(200, &mut rng);
        let large = Agreement::of(&x, &y, 1000, 7);
        let width = |e: Estimate| e.ci95.map(|(l, h)| h - l).unwrap();
        assert!(width(large.spearman) < width(small.spearman));
        // Perfect agreement: every resample is perfect too.
        let p = Agreement::of(&x, &x, 200, 1);
        assert_eq!(p.spearman.ci95, Some((1.0, 1.0)));
        // Too few points: no value, no interval.
        let two = Agreement::of(&[1.0, 2.0], &[2.0, 1.0], 100, 1);
        assert_eq!(two.spearman.ci95, None);
        assert_eq!(two.spearman.text(), "-1.000");
        assert_eq!(Agreement::of(&[1.0], &[1.0], 100, 1).kendall.text(), "n/a");
    }

    #[test]
    fn pearson_on_known_cases() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).unwrap() - 1.0).abs() < 1e-12);
        // numpy.corrcoef([1,2,3,4],[1,3,2,4])[0,1] = 0.8
        let r = pearson(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((r - 0.8).abs() < 1e-12, "{r}");
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn mean_std_and_best_so_far() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
        assert_eq!(best_so_far(&[0.2, 0.1, 0.5, 0.3]), vec![0.2, 0.2, 0.5, 0.5]);
    }
}
