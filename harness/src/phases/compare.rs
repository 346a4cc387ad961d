//! `nas compare`: strategies x seeds on one trained supernet with equal budgets.
//!
//! Each (strategy, seed) search is an ordinary search of the run directory (keyed by
//! what it depends on, resumable on its own), so a comparison reuses searches that
//! `nas run` or an earlier comparison made, and vice versa. One-shot scores are memoised
//! across the searches of one invocation.

use std::path::PathBuf;

use anyhow::Result;
use nas_core::backend::NasAutodiffBackend;

use super::{Ctx, OneShot, retrain_one, search, supernet};
use crate::export::{Cell, Table};
use crate::plots::{Curve, plot_curves};
use crate::records::{Role, best_of};
use crate::stats::{best_so_far, mean_std};

/// Runs the comparison and writes `compare/summary.md`, `compare/results.csv|json` (one
/// row per search) and `compare/curves.svg`; returns the summary's path.
pub fn compare<B: NasAutodiffBackend>(ctx: &Ctx<B>) -> Result<PathBuf> {
    let strategies = ctx.cfg.compared_strategies()?;
    let seeds: Vec<u64> = (0..ctx.cfg.compare.seeds as u64)
        .map(|i| ctx.cfg.seed + i)
        .collect();
    let retrained = ctx.cfg.compare.retrain_winners;
    let supernet = supernet(ctx)?;
    let mut oneshot = OneShot::new(ctx, &supernet)?;
    let mut rows = Table::new(&[
        ("strategy", "strategy"),
        ("seed", "seed"),
        ("best_one_shot", "best one-shot"),
        ("winner_validation", "winner stand-alone validation"),
        ("winner_test", "winner stand-alone test"),
        ("best_arch", "best architecture"),
    ]);
    let mut summary = Table::new(if retrained {
        &[
            ("strategy", "strategy"),
            ("best_one_shot", "best one-shot (mean ± std)"),
            ("winner_test", "winner stand-alone test (mean ± std)"),
        ]
    } else {
        &[
            ("strategy", "strategy"),
            ("best_one_shot", "best one-shot (mean ± std)"),
        ]
    });
    let mut curves = Vec::new();
    let mut finals: Vec<(String, Vec<f64>)> = Vec::new();
    for s in &strategies {
        let (mut per_seed, mut bests, mut tests) = (Vec::new(), Vec::new(), Vec::new());
        for &seed in &seeds {
            let evaluated = search(ctx, &mut oneshot, s, seed)?;
            let scores: Vec<f64> = evaluated.iter().map(|e| e.accuracy).collect();
            per_seed.push(best_so_far(&scores));
            let best = best_of(&evaluated).ok_or_else(|| anyhow::anyhow!("empty search"))?;
            let winner = if retrained {
                let arch = ctx.space.parse(&best.arch)?;
                match retrain_one(ctx, &mut oneshot, &arch, Role::Winner)? {
                    Ok(r) => Some(r.standalone),
                    Err(f) => {
                        tracing::warn!("the winner of {s}, seed {seed}: {}", f.reason);
                        None
                    }
                }
            } else {
                None
            };
            bests.push(best.accuracy);
            tests.extend(winner.as_ref().map(|w| w.test.accuracy));
            rows.push(vec![
                Cell::text(s.clone()),
                Cell::Int(seed),
                Cell::Num(best.accuracy, 4),
                Cell::opt(winner.as_ref().map(|w| w.validation.accuracy), 4),
                Cell::opt(winner.as_ref().map(|w| w.test.accuracy), 4),
                Cell::code(best.arch.clone()),
            ]);
        }
        finals.push((s.clone(), bests.clone()));
        let (m, sd) = mean_std(&bests);
        let mut line = vec![Cell::text(s.clone()), Cell::MeanStd(m, sd, 4)];
        if retrained {
            let (tm, ts) = mean_std(&tests);
            line.push(Cell::MeanStd(tm, ts, 4));
        }
        summary.push(line);
        // Mean and standard deviation of the best-so-far curves over seeds.
        let n = per_seed.iter().map(Vec::len).min().unwrap_or(0);
        let (mean, std): (Vec<f64>, Vec<f64>) = (0..n)
            .map(|i| mean_std(&per_seed.iter().map(|c| c[i]).collect::<Vec<_>>()))
            .unzip();
        curves.push(Curve {
            label: s.clone(),
            values: mean,
            std: (per_seed.len() > 1).then_some(std),
        });
    }
    plot_curves(
        &ctx.run.compare_curves()?,
        &format!(
            "Best one-shot accuracy so far, mean ± std over {} seeds",
            seeds.len()
        ),
        &curves,
        None,
    )?;
    let md = format!(
        "# Strategy comparison\n\n{} evaluations per search, seeds {:?}, the same supernet ({}).\n\n{}\n{}\nCurves: `curves.svg`. Per search: `results.csv`.\n",
        ctx.cfg.search.budget,
        seeds,
        ctx.supernet_key,
        summary.to_markdown(),
        against_random(&finals)
    );
    let path = ctx.run.write_compare(&md, &rows)?;
    print!("{}", summary.to_markdown());
    Ok(path)
}

/// Each strategy's best one-shot accuracy against random search's: the difference of
/// the means over seeds, its standard error, and whether it exceeds twice that error
/// (the seed-to-seed spread), in Markdown.
fn against_random(finals: &[(String, Vec<f64>)]) -> String {
    let Some((_, random)) = finals.iter().find(|(s, _)| s == "random") else {
        return "Random search was not among the strategies: no baseline to compare with.\n"
            .to_string();
    };
    let mut t = Table::new(&[
        ("strategy", "strategy"),
        (
            "difference",
            "best one-shot minus random's (mean over seeds)",
        ),
        ("stderr", "standard error"),
        (
            "beyond_spread",
            "beyond the seed spread (|difference| > 2 standard errors)",
        ),
    ]);
    for (s, bests) in finals.iter().filter(|(s, _)| s != "random") {
        let c = versus(bests, random);
        t.push(vec![
            Cell::text(s.clone()),
            Cell::Num(c.difference, 4),
            Cell::opt(c.stderr, 4),
            Cell::text(match c.beyond_spread {
                Some(true) => "yes",
                Some(false) => "no",
                None => "n/a (one seed)",
            }),
        ]);
    }
    format!(
        "Against random search (best one-shot accuracy after the whole budget):\n\n{}",
        t.to_markdown()
    )
}

/// The difference of two groups of seeds' results.
struct Versus {
    difference: f64,
    stderr: Option<f64>,
    beyond_spread: Option<bool>,
}

/// Difference of means of `a` and `b`, with the standard error `sqrt(sa^2/na + sb^2/nb)`
/// (undefined with fewer than 2 seeds on a side).
fn versus(a: &[f64], b: &[f64]) -> Versus {
    let ((ma, sa), (mb, sb)) = (mean_std(a), mean_std(b));
    let difference = ma - mb;
    let stderr = (a.len() > 1 && b.len() > 1)
        .then(|| (sa * sa / a.len() as f64 + sb * sb / b.len() as f64).sqrt());
    Versus {
        difference,
        stderr,
        beyond_spread: stderr.map(|se| difference.abs() > 2.0 * se),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_counts_only_beyond_twice_its_standard_error() {
        // Means 0.6 and 0.5, each with std 0.01 over 3 seeds: se = 0.00816.
        let c = versus(&[0.59, 0.60, 0.61], &[0.49, 0.50, 0.51]);
        assert!((c.difference - 0.1).abs() < 1e-12);
        let se = (2.0 * 0.0001f64 / 3.0).sqrt();
        assert!((c.stderr.unwrap() - se).abs() < 1e-12);
        assert_eq!(c.beyond_spread, Some(true));
        // The same difference of means with a wide spread is not told from noise.
        let c = versus(&[0.4, 0.6, 0.8], &[0.3, 0.5, 0.7]);
        assert_eq!(c.beyond_spread, Some(false));
        assert_eq!(versus(&[0.5], &[0.4, 0.6]).beyond_spread, None);
        let md = against_random(&[
            ("random".into(), vec![0.49, 0.50, 0.51]),
            ("evolution".into(), vec![0.59, 0.60, 0.61]),
        ]);
        assert!(
            md.contains("| evolution | 0.1000 |") && md.contains("| yes |"),
            "{md}"
        );
    }
}
