//! `nas compare`: strategies x seeds on one trained supernet with equal budgets.
//!
//! Each (strategy, seed) search is its own resumable unit in `RUN/compare/STRATEGY-sSEED/`
//! (the same files as `RUN/search/`), so runs can be interrupted, resumed, or split across
//! machines and merged by copying the folders. One-shot scores are memoised across the
//! searches of one invocation: a score depends only on the supernet and the architecture.

use std::fmt::Write as _;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

use crate::pipeline::{self, Ctx, OneShot};
use crate::report::{best_so_far, mean_std, plot_curves};
use crate::store::{write_atomic, write_json};

/// One search of the comparison.
#[derive(Debug, Clone, Serialize)]
struct Row {
    strategy: String,
    seed: u64,
    best_one_shot: f64,
    best_arch: String,
    /// Stand-alone test accuracy of the winner (when retrained).
    winner_test: Option<f64>,
    /// Stand-alone validation accuracy of the winner (when retrained).
    winner_validation: Option<f64>,
}

/// Runs the comparison and writes `compare/summary.md`, `compare/results.csv`,
/// `compare/results.json` and `compare/curves.svg`.
pub fn compare<B: AutodiffBackend>(ctx: &Ctx<B>) -> Result<()> {
    let strategies: Vec<String> = if ctx.cfg.compare.strategies.is_empty() {
        nas_core::strategy::registry()
            .iter()
            .map(|e| e.name.to_string())
            .collect()
    } else {
        ctx.cfg.compare.strategies.clone()
    };
    let seeds: Vec<u64> = (0..ctx.cfg.compare.seeds as u64)
        .map(|i| ctx.cfg.seed + i)
        .collect();
    let supernet = pipeline::supernet(ctx)?;
    let mut oneshot = OneShot::new(ctx, &supernet)?;
    let mut rows = Vec::new();
    let mut curves = Vec::new();
    for s in &strategies {
        let mut per_seed = Vec::new();
        for &seed in &seeds {
            let dir = ctx.dir.join(format!("compare/{s}-s{seed}"));
            let evaluated = pipeline::search(ctx, &mut oneshot, s, seed, &dir)?;
            let scores: Vec<f64> = evaluated.iter().map(|e| e.accuracy).collect();
            per_seed.push(best_so_far(&scores));
            let best =
                pipeline::best_of(&evaluated).ok_or_else(|| anyhow::anyhow!("empty search"))?;
            let (mut winner_test, mut winner_validation) = (None, None);
            if ctx.cfg.compare.retrain_winners {
                let arch = ctx.space.parse(&best.arch)?;
                let r = pipeline::retrain_one(ctx, &mut oneshot, &arch, "winner")?;
                winner_test = Some(r.test.accuracy);
                winner_validation = Some(r.validation.accuracy);
            }
            rows.push(Row {
                strategy: s.clone(),
                seed,
                best_one_shot: best.accuracy,
                best_arch: best.arch.clone(),
                winner_test,
                winner_validation,
            });
        }
        // Mean best-so-far curve over seeds.
        let n = per_seed.iter().map(Vec::len).min().unwrap_or(0);
        let mean: Vec<f64> = (0..n)
            .map(|i| per_seed.iter().map(|c| c[i]).sum::<f64>() / per_seed.len() as f64)
            .collect();
        curves.push((s.clone(), mean));
    }

    let dir = ctx.dir.join("compare");
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &rows {
        w.serialize(r)?;
    }
    write_atomic(&dir.join("results.csv"), &w.into_inner()?)?;
    write_json(&dir.join("results.json"), &rows)?;
    plot_curves(
        &dir.join("curves.svg"),
        &format!(
            "Best one-shot accuracy so far, mean of {} seeds",
            seeds.len()
        ),
        &curves,
        None,
    )?;

    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Strategy comparison\n\n{} evaluations per search, seeds {:?}, the same supernet.\n",
        ctx.cfg.search.budget, seeds
    );
    let retrained = ctx.cfg.compare.retrain_winners;
    let _ = writeln!(
        md,
        "| strategy | best one-shot (mean ± std) |{}\n|---|---|{}",
        if retrained {
            " winner stand-alone test (mean ± std) |"
        } else {
            ""
        },
        if retrained { "---|" } else { "" }
    );
    println!(
        "{:<12} {:>22}{}",
        "strategy",
        "best one-shot",
        if retrained { "   winner test" } else { "" }
    );
    for s in &strategies {
        let mine: Vec<&Row> = rows.iter().filter(|r| &r.strategy == s).collect();
        let (m, sd) = mean_std(&mine.iter().map(|r| r.best_one_shot).collect::<Vec<_>>());
        let mut line = format!("| {s} | {m:.4} ± {sd:.4} |");
        let mut out = format!("{s:<12} {m:>13.4} ± {sd:.4}");
        if retrained {
            let t: Vec<f64> = mine.iter().filter_map(|r| r.winner_test).collect();
            let (tm, ts) = mean_std(&t);
            let _ = write!(line, " {tm:.4} ± {ts:.4} |");
            let _ = write!(out, "   {tm:.4} ± {ts:.4}");
        }
        let _ = writeln!(md, "{line}");
        println!("{out}");
    }
    let _ = writeln!(
        md,
        "\nCurves: `curves.svg`. Per search: `results.csv`, and each `STRATEGY-sSEED/evaluated.csv`."
    );
    write_atomic(&dir.join("summary.md"), md.as_bytes())?;
    println!("comparison: {}", dir.join("summary.md").display());
    Ok(())
}
