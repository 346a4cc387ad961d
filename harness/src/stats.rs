//! Rank statistics, bootstrap intervals, permutation tests and summaries of result
//! series.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Why a statistic could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// Paired series of different lengths.
    #[error("paired series of different lengths: {x} and {y} values")]
    Lengths {
        /// Length of the first series.
        x: usize,
        /// Length of the second series.
        y: usize,
    },
}

/// Relative tolerance under which two values count as tied: means that are equal in
/// exact arithmetic (0.83 and 0.8300000000000001, from summing the same accuracies in
/// another order) must share a rank.
pub const TIE_TOLERANCE: f64 = 1e-9;

/// Whether `a` and `b` are equal within [`TIE_TOLERANCE`] (relative, and absolute near 0).
pub fn tied(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= TIE_TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

/// Ranks from 1, ties (within [`TIE_TOLERANCE`] of the smallest value of their run)
/// sharing their mean rank.
fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut r = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && tied(xs[idx[j + 1]], xs[idx[i]]) {
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
                if tied(x[i], x[j]) { 0.0 } else { a },
                if tied(y[i], y[j]) { 0.0 } else { b },
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
    /// intervals over `resamples` resamples of the pairs drawn with `seed`. Series of
    /// different lengths are not paired: an error.
    pub fn of(x: &[f64], y: &[f64], resamples: usize, seed: u64) -> Result<Agreement, StatsError> {
        if x.len() != y.len() {
            return Err(StatsError::Lengths {
                x: x.len(),
                y: y.len(),
            });
        }
        let n = x.len();
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
        Ok(Agreement {
            n,
            spearman: estimate(0),
            kendall: estimate(1),
            pearson: estimate(2),
            resamples,
            seed,
        })
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

/// Indices of a bootstrap resample of `n` items.
fn resample(rng: &mut StdRng, n: usize, into: &mut Vec<usize>) {
    into.clear();
    into.extend((0..n).map(|_| rng.random_range(0..n)));
}

/// `stat(a, y) - stat(b, y)`: how much better `a` predicts `y` than `b` does, over the
/// same items, with a paired percentile bootstrap interval (each resample draws the
/// items once and computes both statistics on them).
pub fn paired_difference(
    a: &[f64],
    b: &[f64],
    y: &[f64],
    stat: fn(&[f64], &[f64]) -> Option<f64>,
    resamples: usize,
    seed: u64,
) -> Result<Estimate, StatsError> {
    for other in [b, y] {
        if other.len() != a.len() {
            return Err(StatsError::Lengths {
                x: a.len(),
                y: other.len(),
            });
        }
    }
    let n = a.len();
    let diff = |a: &[f64], b: &[f64], y: &[f64]| Some(stat(a, y)? - stat(b, y)?);
    let mut draws = Vec::with_capacity(resamples);
    if n >= 3 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut idx = Vec::with_capacity(n);
        let pick = |v: &[f64], idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<_>>();
        for _ in 0..resamples {
            resample(&mut rng, n, &mut idx);
            draws.extend(diff(&pick(a, &idx), &pick(b, &idx), &pick(y, &idx)));
        }
    }
    Ok(Estimate {
        value: diff(a, b, y),
        ci95: percentile_interval(&mut draws, resamples),
    })
}

/// The result of a permutation test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Permutation {
    /// The statistic on the data.
    pub statistic: f64,
    /// `(1 + permutations at least as extreme) / (1 + permutations)`.
    pub p_value: f64,
    /// Permutations drawn (or, for an exact test, enumerated).
    pub permutations: usize,
    /// Seed of the draws (0 for an exact test).
    pub seed: u64,
}

/// Does the path-dropout rate change how well the one-shot model ranks? `scores[r][i]`
/// is architecture `i`'s one-shot score at rate `r`, `y[i]` its stand-alone accuracy.
/// The statistic is the range (largest minus smallest) over rates of
/// `Spearman(scores[r], y)`. Under the null hypothesis that the rate does not matter,
/// the rates' rankings of one architecture are exchangeable: each permutation shuffles,
/// architecture by architecture, its within-rate ranks across the rates, and recomputes
/// the range. `None` with fewer than 2 rates or 3 architectures.
pub fn rate_permutation_test(
    scores: &[Vec<f64>],
    y: &[f64],
    permutations: usize,
    seed: u64,
) -> Result<Option<Permutation>, StatsError> {
    for s in scores {
        if s.len() != y.len() {
            return Err(StatsError::Lengths {
                x: s.len(),
                y: y.len(),
            });
        }
    }
    if scores.len() < 2 || y.len() < 3 {
        return Ok(None);
    }
    // Ranks within each rate: the scale of one supernet's scores says nothing about
    // another's, the order does.
    let ranked: Vec<Vec<f64>> = scores.iter().map(|s| ranks(s)).collect();
    let range = |by_rate: &[Vec<f64>]| -> Option<f64> {
        let rho: Vec<f64> = by_rate
            .iter()
            .map(|s| spearman(s, y))
            .collect::<Option<_>>()?;
        let hi = rho.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lo = rho.iter().copied().fold(f64::INFINITY, f64::min);
        Some(hi - lo)
    };
    let Some(statistic) = range(&ranked) else {
        return Ok(None);
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let (rates, n) = (ranked.len(), y.len());
    let mut shuffled = ranked.clone();
    let mut column: Vec<f64> = vec![0.0; rates];
    let mut extreme = 0usize;
    for _ in 0..permutations {
        for i in 0..n {
            for r in 0..rates {
                column[r] = ranked[r][i];
            }
            column.shuffle(&mut rng);
            for r in 0..rates {
                shuffled[r][i] = column[r];
            }
        }
        // A permutation whose range is undefined counts as not extreme.
        if range(&shuffled).is_some_and(|v| v >= statistic - 1e-12) {
            extreme += 1;
        }
    }
    Ok(Some(Permutation {
        statistic,
        p_value: (1 + extreme) as f64 / (1 + permutations) as f64,
        permutations,
        seed,
    }))
}

/// Two-sided permutation test of the difference of means of `a` and `b` (e.g. a
/// strategy's best accuracy over seeds against random search's): exact, over every
/// split of the pooled values, up to 200,000 splits; otherwise `permutations` random
/// splits drawn with `seed`. `None` with an empty side.
pub fn mean_difference_test(
    a: &[f64],
    b: &[f64],
    permutations: usize,
    seed: u64,
) -> Option<Permutation> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let (na, n) = (a.len(), pooled.len());
    let total: f64 = pooled.iter().sum();
    let diff_of = |sum_a: f64| sum_a / na as f64 - (total - sum_a) / (n - na) as f64;
    let observed = diff_of(a.iter().sum()).abs();
    let at_least = |sum_a: f64| diff_of(sum_a).abs() >= observed - 1e-12;
    let splits = binomial(n, na);
    if splits <= 200_000 {
        // Enumerate every subset of size na (lexicographic combinations).
        let mut pick: Vec<usize> = (0..na).collect();
        let (mut count, mut extreme) = (0usize, 0usize);
        loop {
            count += 1;
            if at_least(pick.iter().map(|&i| pooled[i]).sum()) {
                extreme += 1;
            }
            let Some(i) = (0..na).rev().find(|&i| pick[i] < n - na + i) else {
                break;
            };
            pick[i] += 1;
            for j in i + 1..na {
                pick[j] = pick[j - 1] + 1;
            }
        }
        // The observed split is one of the enumerated ones.
        return Some(Permutation {
            statistic: observed,
            p_value: extreme as f64 / count as f64,
            permutations: count,
            seed: 0,
        });
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = pooled.clone();
    let mut extreme = 0;
    for _ in 0..permutations {
        v.shuffle(&mut rng);
        if at_least(v[..na].iter().sum()) {
            extreme += 1;
        }
    }
    Some(Permutation {
        statistic: observed,
        p_value: (1 + extreme) as f64 / (1 + permutations) as f64,
        permutations,
        seed,
    })
}

/// `n` choose `k`, saturating.
fn binomial(n: usize, k: usize) -> usize {
    let k = k.min(n - k.min(n));
    (0..k).fold(1usize, |acc, i| acc.saturating_mul(n - i) / (i + 1))
}

/// What picking by one-shot score buys: the stand-alone accuracy of the `k` best
/// architectures by one-shot score, against the sample's best and against `k` picked at
/// random (whose expected mean is the sample's mean), with bootstrap intervals over the
/// architectures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopK {
    /// How many are picked.
    pub k: usize,
    /// Architectures in the sample.
    pub n: usize,
    /// Mean stand-alone accuracy of the one-shot top k.
    pub top_mean: f64,
    /// Best stand-alone accuracy among the one-shot top k.
    pub top_best: f64,
    /// Mean stand-alone accuracy of the sample (`k` random picks, in expectation).
    pub random_mean: f64,
    /// Best stand-alone accuracy of the sample.
    pub sample_best: f64,
    /// `top_mean - random_mean`: what the one-shot ranking gains over random picks.
    pub gain: Estimate,
    /// `sample_best - top_best`: what the best of the one-shot top k misses of the
    /// sample's best (0: the best architecture is among them).
    pub regret: Estimate,
}

impl TopK {
    /// The top-`k` analysis of `one_shot` (the picking score) and `standalone` (the
    /// truth), over `resamples` bootstrap resamples of the architectures drawn with
    /// `seed`. `None` with fewer than `k + 1` architectures.
    pub fn of(
        one_shot: &[f64],
        standalone: &[f64],
        k: usize,
        resamples: usize,
        seed: u64,
    ) -> Result<Option<TopK>, StatsError> {
        if one_shot.len() != standalone.len() {
            return Err(StatsError::Lengths {
                x: one_shot.len(),
                y: standalone.len(),
            });
        }
        let n = one_shot.len();
        if k == 0 || n <= k {
            return Ok(None);
        }
        // (top mean, top best, sample mean, sample best) of the items `idx`.
        let figures = |idx: &[usize]| {
            let mut order: Vec<usize> = idx.to_vec();
            order.sort_by(|&a, &b| one_shot[b].total_cmp(&one_shot[a]).then(a.cmp(&b)));
            let top = &order[..k];
            let top_mean = top.iter().map(|&i| standalone[i]).sum::<f64>() / k as f64;
            let top_best = top.iter().map(|&i| standalone[i]).fold(f64::MIN, f64::max);
            let mean = idx.iter().map(|&i| standalone[i]).sum::<f64>() / idx.len() as f64;
            let best = idx.iter().map(|&i| standalone[i]).fold(f64::MIN, f64::max);
            (top_mean, top_best, mean, best)
        };
        let all: Vec<usize> = (0..n).collect();
        let (top_mean, top_best, random_mean, sample_best) = figures(&all);
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut gains, mut regrets) = (Vec::new(), Vec::new());
        let mut idx = Vec::with_capacity(n);
        for _ in 0..resamples {
            resample(&mut rng, n, &mut idx);
            let (tm, tb, m, b) = figures(&idx);
            gains.push(tm - m);
            regrets.push(b - tb);
        }
        Ok(Some(TopK {
            k,
            n,
            top_mean,
            top_best,
            random_mean,
            sample_best,
            gain: Estimate {
                value: Some(top_mean - random_mean),
                ci95: percentile_interval(&mut gains, resamples),
            },
            regret: Estimate {
                value: Some(sample_best - top_best),
                ci95: percentile_interval(&mut regrets, resamples),
            },
        }))
    }
}

/// A percentile bootstrap interval of `stat` over resamples of the items of `runs`
/// (e.g. architectures with their accuracies by seed), drawn with `seed`.
pub fn bootstrap_items<T: Clone>(
    items: &[T],
    stat: impl Fn(&[T]) -> Option<f64>,
    resamples: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    let n = items.len();
    if n < 3 {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut idx = Vec::with_capacity(n);
    let mut draws = Vec::with_capacity(resamples);
    let mut picked: Vec<T> = Vec::with_capacity(n);
    for _ in 0..resamples {
        resample(&mut rng, n, &mut idx);
        picked.clear();
        picked.extend(idx.iter().map(|&i| items[i].clone()));
        draws.extend(stat(&picked));
    }
    percentile_interval(&mut draws, resamples)
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
        let small = Agreement::of(&x, &y, 1000, 7).unwrap();
        assert_eq!(small.n, 20);
        for e in [small.spearman, small.kendall, small.pearson] {
            let v = e.value.unwrap();
            let (lo, hi) = e.ci95.unwrap();
            assert!(lo <= v && v <= hi && lo < hi, "{v} not in [{lo}, {hi}]");
            assert!(v > 0.0);
        }
        // Same seed, same intervals.
        assert_eq!(small, Agreement::of(&x, &y, 1000, 7).unwrap());
        let (x, y) = make(200, &mut rng);
        let large = Agreement::of(&x, &y, 1000, 7).unwrap();
        let width = |e: Estimate| e.ci95.map(|(l, h)| h - l).unwrap();
        assert!(width(large.spearman) < width(small.spearman));
        // Perfect agreement: every resample is perfect too.
        let p = Agreement::of(&x, &x, 200, 1).unwrap();
        assert_eq!(p.spearman.ci95, Some((1.0, 1.0)));
        // Too few points: no value, no interval.
        let two = Agreement::of(&[1.0, 2.0], &[2.0, 1.0], 100, 1).unwrap();
        assert_eq!(two.spearman.ci95, None);
        assert_eq!(two.spearman.text(), "-1.000");
        assert_eq!(
            Agreement::of(&[1.0], &[1.0], 100, 1)
                .unwrap()
                .kendall
                .text(),
            "n/a"
        );
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

    #[test]
    fn values_equal_within_tolerance_are_ties() {
        // 0.83 and 0.8300000000000001 are the same mean summed in another order: one rank.
        // scipy.stats.spearmanr([0.83,0.83,0.9,0.7,0.75],[1,2,3,4,5]) = -0.5642880936468347
        // (exact float ranks would give -0.5); kendalltau = -0.31622776601683794.
        let x = [0.83, 0.830_000_000_000_000_1, 0.9, 0.7, 0.75];
        let y = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((spearman(&x, &y).unwrap() + 0.564_288_093_646_834_7).abs() < 1e-12);
        assert!((kendall(&x, &y).unwrap() + 0.316_227_766_016_837_94).abs() < 1e-12);
        // Values a real difference apart stay apart.
        assert!(!tied(0.83, 0.8301));
        assert!(tied(0.0, 1e-12) && !tied(0.0, 1e-6));
    }

    #[test]
    fn series_of_different_lengths_are_refused() {
        let err = Agreement::of(&[1.0, 2.0, 3.0], &[1.0, 2.0], 10, 1).unwrap_err();
        assert_eq!(err, StatsError::Lengths { x: 3, y: 2 });
        assert!(err.to_string().contains("3 and 2"));
        assert!(paired_difference(&[1.0; 4], &[1.0; 3], &[1.0; 4], spearman, 10, 1).is_err());
        assert!(rate_permutation_test(&[vec![1.0; 4], vec![1.0; 3]], &[1.0; 4], 10, 1).is_err());
        assert!(TopK::of(&[1.0; 4], &[1.0; 5], 2, 10, 1).is_err());
    }

    #[test]
    fn paired_bootstrap_of_a_difference_of_correlations() {
        let a = [0.1, 0.4, 0.35, 0.8, 0.6, 0.2, 0.9];
        let b = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0];
        let y = [0.2, 0.5, 0.3, 0.7, 0.65, 0.1, 0.95];
        // scipy: spearmanr(a, y) - spearmanr(b, y) = 1.5408856904108723
        let d = paired_difference(&a, &b, &y, spearman, 2000, 3).unwrap();
        assert!((d.value.unwrap() - 1.540_885_690_410_872_3).abs() < 1e-12);
        let (lo, hi) = d.ci95.unwrap();
        assert!(lo < d.value.unwrap() && d.value.unwrap() <= hi, "{lo} {hi}");
        // Paired: a predictor against itself differs by exactly 0 in every resample (an
        // unpaired bootstrap would give an interval around 0 of some width).
        let same = paired_difference(&a, &a, &y, spearman, 500, 3).unwrap();
        assert_eq!(same.ci95, Some((0.0, 0.0)));
    }

    #[test]
    fn mean_difference_permutation_test_matches_scipy() {
        // scipy.stats.permutation_test((A, B), mean(u) - mean(v), permutation_type=
        // 'independent', alternative='two-sided', n_resamples=inf): p = 0.047619047619
        // (12 of 252 splits), statistic 0.036.
        let a = [0.61, 0.63, 0.60, 0.66, 0.64];
        let b = [0.58, 0.60, 0.59, 0.57, 0.62];
        let t = mean_difference_test(&a, &b, 0, 0).unwrap();
        assert_eq!(t.permutations, 252);
        assert!(
            (t.p_value - 0.047_619_047_619_047_616).abs() < 1e-12,
            "{t:?}"
        );
        assert!((t.statistic - 0.036).abs() < 1e-12);
        // Unequal sizes, no difference: p = 1.0 in scipy.
        let t = mean_difference_test(&[0.5, 0.52, 0.49], &[0.51, 0.50, 0.53, 0.48], 0, 0).unwrap();
        assert_eq!(t.permutations, 35);
        assert!((t.p_value - 1.0).abs() < 1e-12);
        // Too many splits for enumeration: sampled, close to the exact answer.
        let big_a: Vec<f64> = (0..20).map(|i| i as f64 / 20.0 + 0.1).collect();
        let big_b: Vec<f64> = (0..20).map(|i| i as f64 / 20.0).collect();
        let t = mean_difference_test(&big_a, &big_b, 4000, 5).unwrap();
        assert_eq!(t.permutations, 4000);
        assert!(t.p_value > 0.2, "{t:?}");
        assert!(mean_difference_test(&[], &[1.0], 10, 1).is_none());
    }

    #[test]
    fn rate_permutation_test_converges_to_the_exact_p_value() {
        // Two rates, five architectures: 2^5 = 32 ways to swap each architecture's ranks
        // between the rates, 4 of them with a range of Spearmans at least the observed 1.3
        // (enumerated with scipy.stats.spearmanr and rankdata): exact p = 0.125.
        let scores = [vec![0.1, 0.2, 0.3, 0.4, 0.5], vec![0.5, 0.1, 0.4, 0.2, 0.3]];
        let y = [1.0, 2.0, 3.0, 4.0, 5.0];
        let t = rate_permutation_test(&scores, &y, 20_000, 9)
            .unwrap()
            .unwrap();
        assert!((t.statistic - 1.3).abs() < 1e-12, "{t:?}");
        assert!((t.p_value - 0.125).abs() < 0.01, "{t:?}");
        // No rate effect: identical rankings at every rate give a range of 0 and p = 1.
        let same = [scores[0].clone(), scores[0].clone(), scores[0].clone()];
        let t = rate_permutation_test(&same, &y, 200, 9).unwrap().unwrap();
        assert_eq!(t.statistic, 0.0);
        assert_eq!(t.p_value, 1.0);
        assert!(
            rate_permutation_test(&scores[..1], &y, 10, 1)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn top_k_gain_and_regret() {
        // One-shot picks 0 and 1 (scores 0.9, 0.8): stand-alone 0.5 and 0.7; the sample's
        // best is 0.9 (item 4), its mean 0.6.
        let one_shot = [0.9, 0.8, 0.3, 0.2, 0.1];
        let standalone = [0.5, 0.7, 0.4, 0.5, 0.9];
        let t = TopK::of(&one_shot, &standalone, 2, 1000, 2)
            .unwrap()
            .unwrap();
        assert!((t.top_mean - 0.6).abs() < 1e-12 && (t.top_best - 0.7).abs() < 1e-12);
        assert!((t.random_mean - 0.6).abs() < 1e-12 && (t.sample_best - 0.9).abs() < 1e-12);
        assert!(t.gain.value.unwrap().abs() < 1e-12);
        assert!((t.regret.value.unwrap() - 0.2).abs() < 1e-12);
        let (lo, hi) = t.regret.ci95.unwrap();
        assert!(lo >= 0.0 && lo <= hi, "{lo} {hi}");
        // A perfect ranking has no regret in any resample.
        let perfect = TopK::of(&standalone, &standalone, 2, 500, 2)
            .unwrap()
            .unwrap();
        assert_eq!(perfect.regret.ci95, Some((0.0, 0.0)));
        assert!(
            TopK::of(&one_shot, &standalone, 5, 10, 1)
                .unwrap()
                .is_none()
        );
    }
}
