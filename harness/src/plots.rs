//! SVG plots (plotters' SVG backend: no fonts or system libraries needed).

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use crate::records::{Retrained, Role};
use crate::reports::Spread;
use crate::stats::{Agreement, Estimate};

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

/// Widens the narrower of two axis ranges to the span of the wider one (about its own
/// centre), so that equal distances on both axes mean equal accuracy differences.
fn equal_spans(a: (f64, f64), b: (f64, f64)) -> ((f64, f64), (f64, f64)) {
    let span = (a.1 - a.0).max(b.1 - b.0);
    let widen = |r: (f64, f64)| {
        let mid = (r.0 + r.1) / 2.0;
        (mid - span / 2.0, mid + span / 2.0)
    };
    (widen(a), widen(b))
}

/// A labelled group of (one-shot, stand-alone) points and its colour.
type Group<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// Scatter of one-shot vs stand-alone validation accuracy, on axes of equal span (a
/// narrow stand-alone spread looks narrow), each role in its own colour.
pub fn plot_scatter(path: &Path, title: &str, retrained: &[Retrained]) -> Result<()> {
    let groups: Vec<Group<'_>> = [
        (Role::Top, RED),
        (Role::Random, BLUE),
        (Role::Winner, GREEN),
        (Role::User, BLACK),
    ]
    .into_iter()
    .map(|(role, color)| {
        let pts = retrained
            .iter()
            .filter(|s| s.role == role)
            .map(|s| (s.one_shot.accuracy, s.mean_validation()))
            .collect();
        (role.as_str(), color, pts)
    })
    .collect();
    scatter(path, title, &groups)
}

/// Scatter of one-shot vs stand-alone validation accuracy (mean over seeds) of a
/// uniform sample, on axes of equal span.
pub fn plot_points(path: &Path, title: &str, points: &[(f64, f64)]) -> Result<()> {
    scatter(path, title, &[("uniform sample", BLUE, points.to_vec())])
}

/// Groups of (one-shot, stand-alone) points, each in its colour, on axes of equal span.
fn scatter(path: &Path, title: &str, groups: &[Group<'_>]) -> Result<()> {
    let root = SVGBackend::new(path, (640, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err(path))?;
    let all = || groups.iter().flat_map(|g| g.2.iter());
    let (xr, yr) = equal_spans(range(all().map(|p| p.0)), range(all().map(|p| p.1)));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
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
    for (label, color, pts) in groups {
        if pts.is_empty() {
            continue;
        }
        let color = *color;
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 5, color.filled())))
            .map_err(plot_err(path))?
            .label(*label)
            .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
    }
    finish(chart, root, SeriesLabelPosition::UpperRight, path)
}

/// The paper's figure 5 with its ranges: one panel per rate, one-shot accuracy (x)
/// against stand-alone test accuracy (y, mean over seeds) of the reported sample. Every
/// panel has the same axes, each fitted to its own quantity's range over all rates (so
/// both ranges show, and rates compare), and its caption prints both ranges.
pub fn plot_ranges(path: &Path, report: &crate::reports::dropout::DropoutReport) -> Result<()> {
    let rates = &report.rates;
    let y: Vec<f64> = report.archs.iter().map(|a| a.mean_test()).collect();
    let n = rates.len().max(1);
    let cols = n.min(3);
    let rows = n.div_ceil(cols);
    let root =
        SVGBackend::new(path, (360 * cols as u32, 320 * rows as u32 + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err(path))?;
    let (title, body) = root.split_vertically(40);
    title
        .titled(
            "One-shot vs stand-alone test accuracy by path-dropout rate (shared axes)",
            ("sans-serif", 18),
        )
        .map_err(plot_err(path))?;
    let xr = range(rates.iter().flat_map(|r| r.scores.iter().copied()));
    let yr = range(y.iter().copied());
    let yspan = Spread::of(&y);
    for (panel, r) in body.split_evenly((rows, cols)).iter().zip(rates) {
        let xs = Spread::of(&r.scores);
        let caption = format!(
            "r = {}: one-shot {:.3}..{:.3} ({:.3}); stand-alone {:.3}..{:.3} ({:.3})",
            r.rate,
            xs.min,
            xs.max,
            xs.max - xs.min,
            yspan.min,
            yspan.max,
            yspan.max - yspan.min
        );
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, ("sans-serif", 11))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
            .map_err(plot_err(path))?;
        chart
            .configure_mesh()
            .x_desc("one-shot")
            .y_desc("stand-alone test")
            .x_labels(5)
            .y_labels(5)
            .draw()
            .map_err(plot_err(path))?;
        chart
            .draw_series(
                r.scores
                    .iter()
                    .zip(&y)
                    .map(|(&a, &b)| Circle::new((a, b), 3, BLUE.filled())),
            )
            .map_err(plot_err(path))?;
    }
    root.present().map_err(plot_err(path))?;
    Ok(())
}

/// Correlations against the path-dropout rate: Spearman and Kendall, each point with its
/// 95% bootstrap interval as an error bar.
pub fn plot_correlations(path: &Path, points: &[(f64, Agreement)]) -> Result<()> {
    let root = SVGBackend::new(path, (640, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err(path))?;
    let xr = range(points.iter().map(|p| p.0));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "One-shot vs stand-alone rank correlation (95% intervals)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(xr.0..xr.1, -1f64..1f64)
        .map_err(plot_err(path))?;
    chart
        .configure_mesh()
        .x_desc("path-dropout rate r_max")
        .y_desc("correlation")
        .draw()
        .map_err(plot_err(path))?;
    type Pick = fn(&Agreement) -> Estimate;
    let series: [(&str, Pick, RGBColor, f64); 2] = [
        ("Spearman", |a| a.spearman, BLUE, -0.004),
        ("Kendall tau-b", |a| a.kendall, RED, 0.004),
    ];
    for (label, pick, color, shift) in series {
        // Points with a value, shifted a little sideways so the two bars do not overlap.
        let pts: Vec<(f64, Estimate)> = points
            .iter()
            .filter_map(|(r, a)| pick(a).value.map(|_| (r + shift, pick(a))))
            .collect();
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|(r, e)| (*r, e.value.unwrap_or(0.0))),
                color.stroke_width(2),
            ))
            .map_err(plot_err(path))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().filter_map(|(r, e)| {
                let (lo, hi) = e.ci95?;
                Some(ErrorBar::new_vertical(
                    *r,
                    lo,
                    e.value.unwrap_or(0.0),
                    hi,
                    color.filled(),
                    6,
                ))
            }))
            .map_err(plot_err(path))?;
    }
    chart
        .draw_series(LineSeries::new(
            [(xr.0, 0.0), (xr.1, 0.0)],
            BLACK.mix(0.3).stroke_width(1),
        ))
        .map_err(plot_err(path))?;
    finish(chart, root, SeriesLabelPosition::LowerRight, path)
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

/// One line of a curve plot: a label, its values, and optionally a standard deviation
/// at each point (drawn as a shaded band of plus or minus one).
#[derive(Debug, Clone)]
pub struct Curve {
    /// Legend text.
    pub label: String,
    /// The values, at evaluations 1, 2, ...
    pub values: Vec<f64>,
    /// Standard deviation at each point (e.g. over seeds).
    pub std: Option<Vec<f64>>,
}

/// Search curves: each series is a best-so-far [`Curve`]; `points` optionally adds the
/// raw scores of a single search.
pub fn plot_curves(
    path: &Path,
    title: &str,
    series: &[Curve],
    points: Option<&[f64]>,
) -> Result<()> {
    let root = SVGBackend::new(path, (640, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err(path))?;
    let n = series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let band = |c: &Curve, sign: f64| -> Vec<f64> {
        let std = c.std.as_deref().unwrap_or(&[]);
        c.values
            .iter()
            .enumerate()
            .map(|(i, v)| v + sign * std.get(i).copied().unwrap_or(0.0))
            .collect()
    };
    let all = series
        .iter()
        .flat_map(|c| [band(c, -1.0), band(c, 1.0)].concat())
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
    for (k, curve) in series.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        if curve.std.is_some() {
            // The band: up along mean + std, back along mean - std.
            let (hi, lo) = (band(curve, 1.0), band(curve, -1.0));
            let outline: Vec<(f64, f64)> = hi
                .iter()
                .enumerate()
                .map(|(i, &v)| ((i + 1) as f64, v))
                .chain(
                    lo.iter()
                        .enumerate()
                        .rev()
                        .map(|(i, &v)| ((i + 1) as f64, v)),
                )
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    color.mix(0.15).filled(),
                )))
                .map_err(plot_err(path))?;
        }
        chart
            .draw_series(LineSeries::new(
                curve
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| ((i + 1) as f64, v)),
                color.stroke_width(2),
            ))
            .map_err(plot_err(path))?
            .label(curve.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    finish(chart, root, SeriesLabelPosition::LowerRight, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_spans_widen_the_narrow_axis_about_its_centre() {
        let close = |r: (f64, f64), want: (f64, f64)| {
            assert!(
                (r.0 - want.0).abs() < 1e-12 && (r.1 - want.1).abs() < 1e-12,
                "{r:?} vs {want:?}"
            )
        };
        let (a, b) = equal_spans((0.3, 0.6), (0.74, 0.8));
        close(a, (0.3, 0.6));
        close(b, (0.62, 0.92));
        let (a, b) = equal_spans((0.5, 0.52), (0.1, 0.9));
        close(a, (0.11, 0.91));
        close(b, (0.1, 0.9));
    }
}
