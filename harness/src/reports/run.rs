//! The run report: what `report.json` holds, the text of `summary.md`, and its plots.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::export::{Cell, Table};
use crate::plots::{Curve, plot_curves, plot_scatter};
use crate::records::{Evaluated, Failure, Retrained, Role, best_of};
use crate::rundir::RunDir;
use crate::stats::{Agreement, RESAMPLES, best_so_far};

use super::{NoiseFloor, Provenance, Spread, failures_table};

/// Below this many uniformly sampled architectures, the summary says plainly that the
/// correlation cannot be told from noise.
pub(crate) const FEW: usize = 10;

/// The retrained architectures of one role, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Why they were retrained.
    pub role: Role,
    /// How many.
    pub n: usize,
    /// One-shot validation accuracy.
    pub one_shot: Spread,
    /// Stand-alone validation accuracy.
    pub standalone: Spread,
    /// Trainable parameters.
    pub params: Spread,
}

/// The result of `nas run` (`report.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Backend and device used.
    pub backend: String,
    /// Master seed.
    pub seed: u64,
    /// Hash of the whole configuration (`config.toml` of the run directory).
    #[serde(default)]
    pub config_hash: String,
    /// Where it comes from: version and commit, CPU extensions, machine, command line
    /// (flattened: `version`, `cpu`, `machine`, `command`).
    #[serde(flatten)]
    pub provenance: Provenance,
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
    /// One-shot vs stand-alone validation accuracy over the uniformly sampled
    /// architectures only (role `random`). The top-k are chosen by one-shot accuracy, and
    /// selecting on one of the two variables would inflate any correlation, so they are
    /// left out of it and summarised apart in `groups`.
    pub correlation: Agreement,
    /// The stand-alone noise floor, when the random architectures were trained with
    /// several seeds (`retrain.seeds`).
    pub noise: Option<NoiseFloor>,
    /// The retrained architectures by role: the top-k against the random ones.
    pub groups: Vec<Group>,
    /// Stand-alone trainings that diverged (their architectures are left out above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<Failure>,
    /// What the reader should know before trusting the figures (e.g. one-shot scores
    /// at chance level).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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
        failed: Vec<Failure>,
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
        let uniform: Vec<&Retrained> = retrained
            .iter()
            .filter(|r| r.role == Role::Random)
            .collect();
        let x: Vec<f64> = uniform.iter().map(|s| s.one_shot.accuracy).collect();
        let y: Vec<f64> = uniform.iter().map(|s| s.mean_validation()).collect();
        let correlation = Agreement::of(&x, &y, RESAMPLES, seed).ok()?;
        let noise = NoiseFloor::of(&retrained, seed);
        let groups = [Role::Top, Role::Random, Role::Winner, Role::User]
            .into_iter()
            .filter_map(|role| {
                let members: Vec<&Retrained> =
                    retrained.iter().filter(|r| r.role == role).collect();
                let spread = |f: fn(&Retrained) -> f64| {
                    Spread::of(&members.iter().map(|r| f(r)).collect::<Vec<_>>())
                };
                (!members.is_empty()).then(|| Group {
                    role,
                    n: members.len(),
                    one_shot: spread(|r| r.one_shot.accuracy),
                    standalone: spread(Retrained::mean_validation),
                    params: spread(|r| r.standalone.stats.params as f64),
                })
            })
            .collect();
        Some(Report {
            backend,
            seed,
            strategy,
            supernet,
            budget: evaluated.len(),
            best_one_shot,
            best,
            correlation,
            noise,
            groups,
            retrained,
            failed,
            warnings: Vec::new(),
            config_hash: String::new(),
            provenance: Provenance::here(),
        })
    }

    /// The Markdown summary.
    pub fn markdown(&self) -> String {
        let b = &self.best;
        let s = &b.standalone;
        let mut md = String::new();
        let _ = writeln!(md, "# One-shot architecture search: summary\n");
        let _ = writeln!(
            md,
            "Backend `{}`, seed {}, strategy `{}` with {} one-shot evaluations, supernet `{}`.\n",
            self.backend, self.seed, self.strategy, self.budget, self.supernet
        );
        for w in &self.warnings {
            let _ = writeln!(md, "**Warning**: {w}.\n");
        }
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
        let _ = writeln!(md, "## One-shot vs stand-alone\n");
        let _ = writeln!(md, "{}\n", self.correlation_sentence());
        match &self.noise {
            Some(noise) => {
                let _ = writeln!(md, "{}\n", noise.sentence());
            }
            None => {
                let _ = writeln!(
                    md,
                    "The stand-alone noise floor was not measured: set `retrain.seeds` to 3 \
                     (and `retrain.random_k` to 3 or more) to train each random architecture \
                     with several seeds.\n"
                );
            }
        }
        let _ = writeln!(md, "{}", self.groups_table().to_markdown());
        let _ = writeln!(md, "{}", self.retrained_table().to_markdown());
        if !self.failed.is_empty() {
            let _ = writeln!(
                md,
                "## Failed stand-alone trainings

{} training(s) diverged; their \
                 architectures are left out of everything above.\n\n{}",
                self.failed.len(),
                failures_table(&self.failed).to_markdown()
            );
        }
        let _ = writeln!(
            md,
            "Plots: `plots/oneshot_vs_standalone.svg`, `plots/search.svg`. Every evaluation: the search's `evaluated.csv` under `search/`."
        );
        md
    }

    /// What the correlation over the uniform sample says, with its interval and caveats.
    pub fn correlation_sentence(&self) -> String {
        let c = &self.correlation;
        let seeds = self
            .retrained
            .iter()
            .filter(|r| r.role == Role::Random)
            .map(|r| r.repeats.len() + 1)
            .min()
            .unwrap_or(1);
        let what = if seeds > 1 {
            format!("the mean over {seeds} training seeds of stand-alone validation accuracy")
        } else {
            "stand-alone validation accuracy".to_string()
        };
        let mut text = format!(
            "Over the {} uniformly sampled architectures (role `random`), one-shot accuracy vs \
             {what}: {}; 95% bootstrap intervals ({} resamples, seed {}). The top-k are left \
             out: they were chosen by one-shot accuracy, and selecting on one variable \
             inflates a correlation.",
            c.n,
            c.text(),
            c.resamples,
            c.seed
        );
        if c.n < FEW {
            text.push_str(&format!(
                " With n = {} no correlation can be told from noise: retrain more \
                 random architectures (`retrain.random_k`, 30 or more) to measure it.",
                c.n
            ));
        }
        text
    }

    /// The retrained architectures by role: one-shot and stand-alone accuracy and size.
    pub fn groups_table(&self) -> Table {
        let mut t = Table::new(&[
            ("role", "role"),
            ("n", "n"),
            ("one_shot", "one-shot (mean ± std)"),
            ("one_shot_range", "one-shot range"),
            ("standalone", "stand-alone val (mean ± std)"),
            ("standalone_range", "stand-alone range"),
            ("params", "params (mean ± std)"),
        ]);
        let range = |s: &Spread| Cell::text(format!("{:.4}..{:.4}", s.min, s.max));
        for g in &self.groups {
            t.push(vec![
                Cell::text(g.role.as_str()),
                Cell::Int(g.n as u64),
                Cell::MeanStd(g.one_shot.mean, g.one_shot.std, 4),
                range(&g.one_shot),
                Cell::MeanStd(g.standalone.mean, g.standalone.std, 4),
                range(&g.standalone),
                Cell::MeanStd(g.params.mean, g.params.std, 0),
            ]);
        }
        t
    }

    /// Every retrained architecture, one row each.
    pub fn retrained_table(&self) -> Table {
        let mut t = Table::new(&[
            ("role", "role"),
            ("one_shot", "one-shot"),
            ("validation", "stand-alone val (mean over seeds)"),
            ("seeds", "seeds"),
            ("test", "test (first seed)"),
            ("params", "params"),
            ("macs", "MACs"),
            ("arch", "architecture"),
        ]);
        for r in &self.retrained {
            let s = &r.standalone;
            t.push(vec![
                Cell::text(r.role.as_str()),
                Cell::Num(r.one_shot.accuracy, 4),
                Cell::Num(r.mean_validation(), 4),
                Cell::Int(r.repeats.len() as u64 + 1),
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
        plot_scatter(
            &run.plot("oneshot_vs_standalone")?,
            "One-shot vs stand-alone accuracy (axes of equal span)",
            &self.retrained,
        )?;
        let scores: Vec<f64> = evaluated.iter().map(|e| e.accuracy).collect();
        plot_curves(
            &run.plot("search")?,
            &format!("Search ({})", self.strategy),
            &[Curve {
                label: "best so far".into(),
                values: best_so_far(&scores),
                std: None,
            }],
            Some(&scores),
        )?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Metrics, Standalone};
    use crate::reports::one_shot_warnings;
    use crate::stats::mean_std;
    use nas_core::stats::ModelStats;

    #[test]
    fn the_noise_ceiling_follows_spearman_brown() {
        // Three seeds that rank four architectures identically: no noise, ceiling 1.
        let same = vec![
            vec![0.1, 0.1, 0.1],
            vec![0.2, 0.2, 0.2],
            vec![0.3, 0.3, 0.3],
            vec![0.4, 0.4, 0.4],
        ];
        let n = NoiseFloor::of_runs(&same, 0).unwrap();
        assert!((n.ceiling.unwrap() - 1.0).abs() < 1e-12);
        // Two seeds ranking four architectures 1234 and 1342: d^2 = 0 + 1 + 1 + 4 = 6,
        // Spearman 1 - 6 * 6 / (4 * 15) = 0.4.
        let two = vec![
            vec![0.1, 0.1],
            vec![0.2, 0.3],
            vec![0.3, 0.4],
            vec![0.4, 0.2],
        ];
        let n = NoiseFloor::of_runs(&two, 0).unwrap();
        let r: f64 = 0.4;
        let expected = (2.0 * r / (1.0 + r)).sqrt();
        assert!(
            (n.ceiling.unwrap() - expected).abs() < 1e-12,
            "{:?}",
            n.ceiling
        );
        // Seeds that disagree completely: no ceiling to speak of.
        let reversed = vec![
            vec![0.1, 0.4],
            vec![0.2, 0.3],
            vec![0.3, 0.2],
            vec![0.4, 0.1],
        ];
        assert_eq!(NoiseFloor::of_runs(&reversed, 0).unwrap().ceiling, None);
    }

    fn metrics(accuracy: f64) -> Metrics {
        Metrics {
            accuracy,
            loss: 1.0,
            examples: 100,
        }
    }

    fn standalone(arch: &str, val: f64) -> Standalone {
        Standalone {
            arch: arch.to_string(),
            key: format!("key-{arch}-{val}"),
            stats: ModelStats {
                params: 1000,
                macs: 10_000,
            },
            validation: metrics(val),
            test: metrics(val),
            init_seed: 0,
            seconds: 1.0,
            backend: "flex".into(),
            version: "0.1.0".into(),
            computed_by: None,
        }
    }

    fn retrained(role: Role, one_shot: f64, vals: &[f64]) -> Retrained {
        let arch = format!("a{one_shot}");
        Retrained {
            role,
            one_shot: metrics(one_shot),
            standalone: standalone(&arch, vals[0]),
            repeats: vals[1..].iter().map(|&v| standalone(&arch, v)).collect(),
        }
    }

    fn evaluated(acc: f64) -> Evaluated {
        Evaluated {
            index: 0,
            arch: "a".into(),
            accuracy: acc,
            loss: 1.0,
            examples: 100,
        }
    }

    #[test]
    fn one_shot_scores_that_rank_nothing_are_warned_about() {
        assert!(one_shot_warnings(&[0.5, 0.6, 0.4], 10, 500).is_empty());
        let w = one_shot_warnings(&[0.105; 4], 10, 500);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("all 4 one-shot accuracies are equal"),
            "{w:?}"
        );
        assert!(
            w[1].contains("every one-shot accuracy is at chance level"),
            "{w:?}"
        );
        // Chance plus noise on 500 images (se 0.013) is still chance; 0.2 is not.
        assert_eq!(one_shot_warnings(&[0.09, 0.12, 0.135], 10, 500).len(), 1);
        assert!(one_shot_warnings(&[0.09, 0.2], 10, 500).is_empty());
    }

    #[test]
    fn correlations_leave_the_top_k_out_and_the_noise_floor_pools_seeds() {
        // The top architecture agrees perfectly and would lift any correlation it were in;
        // the random ones are ordered by one-shot score with their mean stand-alone
        // accuracies reversed.
        let retrained = vec![
            retrained(Role::Top, 0.9, &[0.95]),
            retrained(Role::Random, 0.1, &[0.80, 0.82, 0.84]),
            retrained(Role::Random, 0.2, &[0.78, 0.80, 0.82]),
            retrained(Role::Random, 0.3, &[0.76, 0.78, 0.80]),
            retrained(Role::Random, 0.4, &[0.74, 0.76, 0.78]),
        ];
        let report = Report::new(
            "flex".into(),
            3,
            "evolution".into(),
            "k".into(),
            &[evaluated(0.9)],
            retrained,
            Vec::new(),
        )
        .unwrap();
        assert_eq!(report.correlation.n, 4);
        assert!((report.correlation.spearman.value.unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(report.correlation.seed, 3);
        let noise = report.noise.as_ref().unwrap();
        assert_eq!((noise.architectures, noise.seeds), (4, 3));
        // Each architecture's seeds are 0.02 apart: std 0.02; means 0.82, 0.80, 0.78, 0.76.
        assert!((noise.seed_std - 0.02).abs() < 1e-12, "{}", noise.seed_std);
        let between = mean_std(&[0.82, 0.80, 0.78, 0.76]).1;
        assert!((noise.between_std - between).abs() < 1e-12);
        assert!((noise.seed_to_seed.spearman.value.unwrap() - 1.0).abs() < 1e-12);
        let groups: Vec<(Role, usize)> = report.groups.iter().map(|g| (g.role, g.n)).collect();
        assert_eq!(groups, vec![(Role::Top, 1), (Role::Random, 4)]);
        let md = report.markdown();
        assert!(
            md.contains("n = 4") && md.contains("mean over 3 training seeds"),
            "{md}"
        );
        assert!(
            md.contains("noise floor over 4 random architectures"),
            "{md}"
        );
        assert!(md.contains("no correlation can be told from noise"), "{md}");
    }

    #[test]
    fn without_repeats_there_is_no_noise_floor_and_the_summary_says_how_to_get_one() {
        let retrained = vec![
            retrained(Role::Top, 0.9, &[0.95]),
            retrained(Role::Random, 0.1, &[0.80]),
            retrained(Role::Random, 0.2, &[0.78]),
            retrained(Role::Random, 0.3, &[0.79]),
        ];
        let report = Report::new(
            "flex".into(),
            0,
            "random".into(),
            "k".into(),
            &[evaluated(0.9)],
            retrained,
            Vec::new(),
        )
        .unwrap();
        assert!(report.noise.is_none());
        assert!(report.markdown().contains("set `retrain.seeds` to 3"));
    }
}
