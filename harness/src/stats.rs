//! Rank statistics and summaries of result series.

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

fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
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
    fn mean_std_and_best_so_far() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
        assert_eq!(best_so_far(&[0.2, 0.1, 0.5, 0.3]), vec![0.2, 0.2, 0.5, 0.5]);
    }
}
