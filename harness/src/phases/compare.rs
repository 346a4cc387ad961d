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
use crate::reports::compare::against_random;
use crate::stats::{best_so_far, mean_std};

/// Runs the comparison and writes `compare/summary.md`, `compare/results.csv|json` (one
/// row per search) and `compare/curves.svg`; returns the summary's path. With
/// `retrain_winners`, each search's winner is trained stand-alone and compared too.
pub fn compare<B: NasAutodiffBackend>(ctx: &Ctx<B>, retrain_winners: bool) -> Result<PathBuf> {
    let strategies = ctx.cfg.compared_strategies()?;
    let seeds: Vec<u64> = (0..ctx.cfg.compare.seeds as u64)
        .map(|i| ctx.cfg.seed + i)
        .collect();
    let retrained = retrain_winners;
    let supernet = supernet(ctx, &ctx.supernet)?;
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
    let mut winner_tests: Vec<(String, Vec<f64>)> = Vec::new();
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
        winner_tests.push((s.clone(), tests.clone()));
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
    let winners = if retrained {
        format!(
            "\n{}",
            against_random(
                "the winner's stand-alone test accuracy, one training each",
                &winner_tests
            )
        )
    } else {
        String::new()
    };
    let md = format!(
        "# Strategy comparison\n\n{} evaluations per search, seeds {:?}, the same supernet ({}).\n\n{}\n{}{winners}\nCurves: `curves.svg`. Per search: `results.csv`.\n",
        ctx.cfg.search.budget,
        seeds,
        ctx.supernet.key,
        summary.to_markdown(),
        against_random("best one-shot accuracy after the whole budget", &finals)
    );
    let path = ctx.run.write_compare(&md, &rows)?;
    print!("{}", summary.to_markdown());
    Ok(path)
}
