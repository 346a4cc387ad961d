//! `nas compare`: strategies x seeds on one trained supernet with equal budgets.
//!
//! Each (strategy, seed) search is an ordinary search of the run directory (keyed by
//! what it depends on, resumable on its own), so a comparison reuses searches that
//! `nas run` or an earlier comparison made, and vice versa. One-shot scores are memoised
//! across the searches of one invocation.

use std::path::PathBuf;

use anyhow::Result;
use nas_core::backend::NasAutodiffBackend;

use super::{CacheWrites, Ctx, OneShot, SupernetChoice, retrain_one, search, supernet};
use crate::plots::plot_curves;
use crate::records::{Role, best_of};
use crate::reports::Provenance;
use crate::reports::compare::{Comparison, SearchResult, comparison_markdown};
use crate::stats::best_so_far;

/// Runs the comparison on the supernet `on` and writes `compare/summary.md`,
/// `compare/results.csv|json` (one row per search) and `compare/curves.svg`; returns the
/// summary's path. With `retrain_winners`, each search's winner is trained stand-alone
/// and compared too.
pub fn compare<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
    on: &SupernetChoice,
    retrain_winners: bool,
) -> Result<PathBuf> {
    let strategies = ctx.cfg.compared_strategies()?;
    let seeds: Vec<u64> = (0..ctx.cfg.compare.seeds as u64)
        .map(|i| ctx.cfg.seed + i)
        .collect();
    let supernet = supernet(ctx, on)?;
    let mut oneshot = OneShot::new(ctx, &supernet, on, CacheWrites::Append)?;
    let mut searches = Vec::new();
    for s in &strategies {
        for &seed in &seeds {
            let evaluated = search(ctx, &mut oneshot, s, seed)?;
            let scores: Vec<f64> = evaluated.iter().map(|e| e.accuracy).collect();
            let best = best_of(&evaluated).ok_or_else(|| anyhow::anyhow!("empty search"))?;
            let winner = if retrain_winners {
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
            searches.push(SearchResult {
                strategy: s.clone(),
                seed,
                best_so_far: best_so_far(&scores),
                best: best.clone(),
                winner,
            });
        }
    }
    let comparison = Comparison {
        budget: ctx.cfg.search.budget,
        seeds,
        supernet: on.key.clone(),
        winners_trained: retrain_winners,
        searches,
        provenance: Provenance::here(),
    };
    let (md, rows, summary) = comparison_markdown(&comparison);
    plot_curves(
        &ctx.run.compare_curves()?,
        &format!(
            "Best one-shot accuracy so far, mean ± std over {} seeds",
            comparison.seeds.len()
        ),
        &comparison.curves(),
        None,
    )?;
    let path = ctx.run.write_compare(&md, &rows)?;
    print!("{}", summary.to_markdown());
    Ok(path)
}
