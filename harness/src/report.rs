//! The run report: what `report.json` holds, the text of `summary.md`, and its plots.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::export::{Cell, Table};
use crate::plots::{plot_curves, plot_scatter};
use crate::records::{Evaluated, Retrained, Role, best_of};
use crate::rundir::RunDir;
use crate::stats::{best_so_far, kendall, spearman};

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
    /// The supernet's key (its folder under `supernet/`).
    pub supernet: String,
    /// Evaluations of the search.
    pub budget: usize,
    /// The best architecture by one-shot accuracy.
    pub best_one_shot: Evaluated,
    /// The selected architecture: the best stand-alone validation accuracy among the
    /// retrained top-k (its test accuracy is the reported result).
    pub best: Retrained,
    /// Every retrained architecture.
    pub retrained: Vec<Retrained>,
    /// One-shot vs stand-alone agreement over all retrained architectures.
    pub correlation: Correlation,
}

impl Report {
    /// Builds the report; `None` when nothing was retrained.
    pub fn new(
        backend: String,
        seed: u64,
        strategy: String,
        supernet: String,
        evaluated: &[Evaluated],
        retrained: Vec<Retrained>,
    ) -> Option<Report> {
        let best_one_shot = best_of(evaluated)?.clone();
        let best = retrained
            .iter()
            .filter(|s| s.role == Role::Top)
            .max_by(|a, b| {
                a.standalone
                    .validation
                    .accuracy
                    .total_cmp(&b.standalone.validation.accuracy)
            })
            .or_else(|| retrained.first())?
            .clone();
        let x: Vec<f64> = retrained.iter().map(|s| s.one_shot.accuracy).collect();
        let y: Vec<f64> = retrained
            .iter()
            .map(|s| s.standalone.validation.accuracy)
            .collect();
        Some(Report {
            backend,
            seed,
            strategy,
            supernet,
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
        let b = &self.best;
        let s = &b.standalone;
        let mut md = String::new();
        let _ = writeln!(md, "# One-shot architecture search: summary\n");
        let _ = writeln!(
            md,
            "Backend `{}`, seed {}, strategy `{}` with {} one-shot evaluations, supernet `{}`.\n",
            self.backend, self.seed, self.strategy, self.budget, self.supernet
        );
        let _ = writeln!(md, "## Best architecture\n\n`{}`\n", s.arch);
        let mut best = Table::new(&[("what", ""), ("value", "value")]);
        for (what, v) in [
            ("test accuracy (stand-alone)", Cell::Num(s.test.accuracy, 4)),
            (
                "validation accuracy (stand-alone)",
                Cell::Num(s.validation.accuracy, 4),
            ),
            ("one-shot accuracy", Cell::Num(b.one_shot.accuracy, 4)),
            ("parameters", Cell::Int(s.stats.params)),
            ("multiply-adds", Cell::Int(s.stats.macs)),
        ] {
            best.push(vec![Cell::text(what), v]);
        }
        let _ = writeln!(md, "{}", best.to_markdown());
        let _ = writeln!(
            md,
            "## One-shot vs stand-alone\n\nOver {} retrained architectures: Spearman {}, Kendall tau {}.\n",
            self.correlation.n,
            f(self.correlation.spearman),
            f(self.correlation.kendall)
        );
        let _ = writeln!(md, "{}", self.retrained_table().to_markdown());
        let _ = writeln!(
            md,
            "Plots: `plots/oneshot_vs_standalone.svg`, `plots/search.svg`. Every evaluation: the search's `evaluated.csv` under `search/`."
        );
        md
    }

    /// Every retrained architecture, one row each.
    pub fn retrained_table(&self) -> Table {
        let mut t = Table::new(&[
            ("role", "role"),
            ("one_shot", "one-shot"),
            ("validation", "stand-alone val"),
            ("test", "test"),
            ("params", "params"),
            ("macs", "MACs"),
            ("arch", "architecture"),
        ]);
        for r in &self.retrained {
            let s = &r.standalone;
            t.push(vec![
                Cell::text(r.role.as_str()),
                Cell::Num(r.one_shot.accuracy, 4),
                Cell::Num(s.validation.accuracy, 4),
                Cell::Num(s.test.accuracy, 4),
                Cell::Int(s.stats.params),
                Cell::Int(s.stats.macs),
                Cell::code(s.arch.clone()),
            ]);
        }
        t
    }

    /// Writes `report.json`, `summary.md` and the plots; returns the summary's path.
    pub fn write(&self, run: &RunDir, evaluated: &[Evaluated]) -> Result<PathBuf> {
        let summary = run.write_report(self, &self.markdown())?;
        plot_scatter(&run.plot("oneshot_vs_standalone")?, &self.retrained)?;
        let scores: Vec<f64> = evaluated.iter().map(|e| e.accuracy).collect();
        plot_curves(
            &run.plot("search")?,
            &format!("Search ({})", self.strategy),
            &[("best so far".into(), best_so_far(&scores))],
            Some(&scores),
        )?;
        Ok(summary)
    }
}
