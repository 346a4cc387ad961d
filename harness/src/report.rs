//! Results: rank correlations, the run report, Markdown summaries and SVG plots.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::pipeline::{Evaluated, Standalone};

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

/// One-shot vs stand-alone rank agreement over the retrained architectures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Correlation {
    /// Architectures compared.
    pub n: usize,
    /// Spearman's rho of one-shot accuracy vs stand-alone validation accuracy.
    pub spearman: Option<f64>,
    /// Kendall's tau-b of the same.
    pub kendall: Option<f64>,
}

/// The result of `nas run` (`report.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Backend and device used.
    pub backend: String,
    /// Master seed.
    pub seed: u64,
    /// Strategy used.
    pub strategy: String,
    /// Evaluations of the search.
    pub budget: usize,
    /// The best architecture by one-shot accuracy.
    pub best_one_shot: Evaluated,
    /// The selected architecture: the best stand-alone validation accuracy among the
    /// retrained top-k (its test accuracy is the reported result).
    pub best: Standalone,
    /// Every retrained architecture.
    pub retrained: Vec<Standalone>,
    /// One-shot vs stand-alone agreement over all retrained architectures.
    pub correlation: Correlation,
}

impl Report {
    /// Builds the report; `None` when nothing was retrained.
    pub fn new(
        backend: String,
        seed: u64,
        strategy: String,
        evaluated: &[Evaluated],
        retrained: Vec<Standalone>,
    ) -> Option<Report> {
        let best_one_shot = crate::pipeline::best_of(evaluated)?.clone();
        let best = retrained
            .iter()
            .filter(|s| s.role == "top")
            .max_by(|a, b| a.validation.accuracy.total_cmp(&b.validation.accuracy))
            .or_else(|| retrained.first())?
            .clone();
        let x: Vec<f64> = retrained.iter().map(|s| s.one_shot.accuracy).collect();
        let y: Vec<f64> = retrained.iter().map(|s| s.validation.accuracy).collect();
        Some(Report {
            backend,
            seed,
            strategy,
            budget: evaluated.len(),
            best_one_shot,
            best,
            correlation: Correlation {
                n: x.len(),
                spearman: spearman(&x, &y),
                kendall: kendall(&x, &y),
            },
            retrained,
        })
    }

    /// The Markdown summary.
    pub fn markdown(&self) -> String {
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
        let mut s = String::new();
        let b = &self.best;
        let _ = writeln!(s, "# One-shot architecture search: summary\n");
        let _ = writeln!(
            s,
            "Backend `{}`, seed {}, strategy `{}` with {} one-shot evaluations.\n",
            self.backend, self.seed, self.strategy, self.budget
        );
        let _ = writeln!(s, "## Best architecture\n\n`{}`\n", b.arch);
        let _ = writeln!(s, "| | value |\n|---|---|");
        let _ = writeln!(
            s,
            "| test accuracy (stand-alone) | {:.4} |",
            b.test.accuracy
        );
        let _ = writeln!(
            s,
            "| validation accuracy (stand-alone) | {:.4} |",
            b.validation.accuracy
        );
        let _ = writeln!(s, "| one-shot accuracy | {:.4} |", b.one_shot.accuracy);
        let _ = writeln!(s, "| parameters | {} |", b.stats.params);
        let _ = writeln!(s, "| multiply-adds | {} |\n", b.stats.macs);
        let _ = writeln!(
            s,
            "## One-shot vs stand-alone\n\nOver {} retrained architectures: Spearman {}, Kendall tau {}.\n",
            self.correlation.n,
            f(self.correlation.spearman),
            f(self.correlation.kendall)
        );
        let _ = writeln!(
            s,
            "| role | one-shot | stand-alone val | test | params | MACs | architecture |\n|---|---|---|---|---|---|---|"
        );
        for r in &self.retrained {
            let _ = writeln!(
                s,
                "| {} | {:.4} | {:.4} | {:.4} | {} | {} | `{}` |",
                r.role,
                r.one_shot.accuracy,
                r.validation.accuracy,
                r.test.accuracy,
                r.stats.params,
                r.stats.macs,
                r.arch
            );
        }
        let _ = writeln!(
            s,
            "\nPlots: `plots/oneshot_vs_standalone.svg`, `plots/search.svg`. Every evaluation: `search/evaluated.csv`."
        );
        s
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(0.01);
    (lo - pad, hi + pad)
}

fn plot_err<E: std::fmt::Debug>(path: &Path) -> impl FnOnce(E) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("drawing {}: {e:?}", path.display())
}

/// Scatter of one-shot vs stand-alone validation accuracy.
pub fn plot_scatter(path: &Path, retrained: &[Standalone]) -> Result<()> {
    let root = SVGBackend::new(path, (640, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err(path))?;
    let xr = range(retrained.iter().map(|s| s.one_shot.accuracy));
    let yr = range(retrained.iter().map(|s| s.validation.accuracy));
    let mut chart = ChartBuilder::on(&root)
        .caption("One-shot vs stand-alone accuracy", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(plot_err(path))?;
    chart
        .configure_mesh()
        .x_desc("one-shot accuracy (validation)")
        .y_desc("stand-alone accuracy (validation)")
        .draw()
        .map_err(plot_err(path))?;
    for (role, color) in [
        ("top", RED),
        ("random", BLUE),
        ("winner", GREEN),
        ("user", BLACK),
    ] {
        let pts: Vec<(f64, f64)> = retrained
            .iter()
            .filter(|s| s.role == role)
            .map(|s| (s.one_shot.accuracy, s.validation.accuracy))
            .collect();
        if pts.is_empty() {
            continue;
        }
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 5, color.filled())))
            .map_err(plot_err(path))?
            .label(role)
            .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
    }
    finish(chart, root, SeriesLabelPosition::UpperRight, path)
}

/// Draws the legend and writes the file.
fn finish<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    mut chart: ChartContext<'a, DB, CT>,
    root: DrawingArea<DB, plotters::coord::Shift>,
    position: SeriesLabelPosition,
    path: &Path,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(plot_err(path))?;
    root.present().map_err(plot_err(path))?;
    Ok(())
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

/// Search curves: each series is (label, best-so-far values); `points` optionally adds
/// the raw scores of a single search.
pub fn plot_curves(
    path: &Path,
    title: &str,
    series: &[(String, Vec<f64>)],
    points: Option<&[f64]>,
) -> Result<()> {
    let root = SVGBackend::new(path, (640, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err(path))?;
    let n = series.iter().map(|s| s.1.len()).max().unwrap_or(1).max(2);
    let all = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .chain(points.unwrap_or(&[]).iter().copied());
    let yr = range(all);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(1f64..n as f64, yr.0..yr.1)
        .map_err(plot_err(path))?;
    chart
        .configure_mesh()
        .x_desc("evaluations")
        .y_desc("one-shot accuracy")
        .draw()
        .map_err(plot_err(path))?;
    if let Some(p) = points {
        chart
            .draw_series(
                p.iter()
                    .enumerate()
                    .map(|(i, &v)| Circle::new(((i + 1) as f64, v), 2, BLACK.mix(0.4).filled())),
            )
            .map_err(plot_err(path))?;
    }
    for (k, (label, ys)) in series.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        chart
            .draw_series(LineSeries::new(
                ys.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)),
                color.stroke_width(2),
            ))
            .map_err(plot_err(path))?
            .label(label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    finish(chart, root, SeriesLabelPosition::LowerRight, path)
}

/// Writes `report.json`, `summary.md` and the plots of a run.
pub fn write_run(dir: &Path, report: &Report, evaluated: &[Evaluated]) -> Result<()> {
    crate::store::write_json(&dir.join("report.json"), report)?;
    crate::store::write_atomic(&dir.join("summary.md"), report.markdown().as_bytes())?;
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).with_context(|| format!("creating {}", plots.display()))?;
    plot_scatter(&plots.join("oneshot_vs_standalone.svg"), &report.retrained)?;
    let scores: Vec<f64> = evaluated.iter().map(|e| e.accuracy).collect();
    plot_curves(
        &plots.join("search.svg"),
        &format!("Search ({})", report.strategy),
        &[("best so far".into(), best_so_far(&scores))],
        Some(&scores),
    )?;
    Ok(())
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
