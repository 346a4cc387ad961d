//! The strategy comparison's report: each strategy against random search over seeds.

use crate::export::{Cell, Table};
use crate::plots::Curve;
use crate::records::{Evaluated, Standalone};
use crate::stats::{mean_difference_test, mean_std};

use super::Provenance;

/// One search of a comparison, as the phase returns it.
#[derive(Debug, Clone)]
pub struct SearchResult {
    /// Its strategy.
    pub strategy: String,
    /// Its seed.
    pub seed: u64,
    /// The best one-shot accuracy after each evaluation.
    pub best_so_far: Vec<f64>,
    /// Its best architecture by one-shot accuracy.
    pub best: Evaluated,
    /// That architecture trained stand-alone (when winners are trained and it did not
    /// diverge).
    pub winner: Option<Standalone>,
}

/// A whole comparison: every (strategy, seed) search on one supernet.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Evaluations per search.
    pub budget: usize,
    /// The seeds every strategy ran with.
    pub seeds: Vec<u64>,
    /// The supernet's key.
    pub supernet: String,
    /// Whether each search's winner was trained stand-alone.
    pub winners_trained: bool,
    /// The searches, strategy by strategy, seed by seed.
    pub searches: Vec<SearchResult>,
    /// Where it comes from.
    pub provenance: Provenance,
}

impl Comparison {
    /// The strategies in the order they ran.
    fn strategies(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for s in &self.searches {
            if !names.contains(&s.strategy) {
                names.push(s.strategy.clone());
            }
        }
        names
    }

    /// The searches of `strategy`.
    fn of<'a>(&'a self, strategy: &'a str) -> impl Iterator<Item = &'a SearchResult> + 'a {
        self.searches.iter().filter(move |s| s.strategy == strategy)
    }

    /// Each strategy's mean best-so-far curve over seeds, with its standard deviation.
    pub fn curves(&self) -> Vec<Curve> {
        self.strategies()
            .into_iter()
            .map(|name| {
                let per_seed: Vec<&Vec<f64>> = self.of(&name).map(|s| &s.best_so_far).collect();
                let n = per_seed.iter().map(|c| c.len()).min().unwrap_or(0);
                let (mean, std): (Vec<f64>, Vec<f64>) = (0..n)
                    .map(|i| mean_std(&per_seed.iter().map(|c| c[i]).collect::<Vec<_>>()))
                    .unzip();
                Curve {
                    std: (per_seed.len() > 1).then_some(std),
                    label: name,
                    values: mean,
                }
            })
            .collect()
    }
}

/// The comparison's summary (Markdown), its rows (one per search) and the summary table
/// (one row per strategy).
pub fn comparison_markdown(c: &Comparison) -> (String, Table, Table) {
    let mut rows = Table::new(&[
        ("strategy", "strategy"),
        ("seed", "seed"),
        ("best_one_shot", "best one-shot"),
        ("winner_validation", "winner stand-alone validation"),
        ("winner_test", "winner stand-alone test"),
        ("best_arch", "best architecture"),
    ]);
    for s in &c.searches {
        rows.push(vec![
            Cell::text(s.strategy.clone()),
            Cell::Int(s.seed),
            Cell::Num(s.best.accuracy, 4),
            Cell::opt(s.winner.as_ref().map(|w| w.validation.accuracy), 4),
            Cell::opt(s.winner.as_ref().map(|w| w.test.accuracy), 4),
            Cell::code(s.best.arch.clone()),
        ]);
    }
    let mut summary = Table::new(if c.winners_trained {
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
    let (mut finals, mut winner_tests) = (Vec::new(), Vec::new());
    for name in c.strategies() {
        let bests: Vec<f64> = c.of(&name).map(|s| s.best.accuracy).collect();
        let tests: Vec<f64> = c
            .of(&name)
            .filter_map(|s| s.winner.as_ref().map(|w| w.test.accuracy))
            .collect();
        let (m, sd) = mean_std(&bests);
        let mut line = vec![Cell::text(name.clone()), Cell::MeanStd(m, sd, 4)];
        if c.winners_trained {
            let (tm, ts) = mean_std(&tests);
            line.push(Cell::MeanStd(tm, ts, 4));
        }
        summary.push(line);
        finals.push((name.clone(), bests));
        winner_tests.push((name, tests));
    }
    let winners = if c.winners_trained {
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
        "# Strategy comparison\n\n{} evaluations per search, seeds {:?}, the same supernet \
         ({}).\n\n{}\n{}{winners}\nCurves: `curves.svg`. Per search: `results.csv`. \
         Written by `nas` {} on {} (CPU extensions `{}`).\n",
        c.budget,
        c.seeds,
        c.supernet,
        summary.to_markdown(),
        against_random("best one-shot accuracy after the whole budget", &finals),
        c.provenance.version,
        c.provenance.machine,
        c.provenance.cpu,
    );
    (md, rows, summary)
}

/// Each strategy's `what` (e.g. "best one-shot accuracy") against random search's: the
/// difference of the means over seeds, its standard error, whether it exceeds twice that
/// error (the seed-to-seed spread), and the two-sided p-value of an exact permutation
/// test of the difference (every split of the pooled seeds), in Markdown.
pub fn against_random(what: &str, finals: &[(String, Vec<f64>)]) -> String {
    let Some((_, random)) = finals.iter().find(|(s, _)| s == "random") else {
        return "Random search was not among the strategies: no baseline to compare with.\n"
            .to_string();
    };
    let mut t = Table::new(&[
        ("strategy", "strategy"),
        ("difference", "minus random's (mean over seeds)"),
        ("stderr", "standard error"),
        (
            "beyond_spread",
            "beyond the seed spread (|difference| > 2 standard errors)",
        ),
        ("p", "p (permutation test, two-sided)"),
        ("seeds", "seeds"),
    ]);
    for (s, values) in finals.iter().filter(|(s, _)| s != "random") {
        let c = versus(values, random);
        let p = mean_difference_test(values, random, 20_000, 0);
        t.push(vec![
            Cell::text(s.clone()),
            Cell::Num(c.difference, 4),
            Cell::opt(c.stderr, 4),
            Cell::text(match c.beyond_spread {
                Some(true) => "yes",
                Some(false) => "no",
                None => "n/a (one seed)",
            }),
            Cell::opt(p.map(|p| p.p_value), 3),
            Cell::text(format!("{} vs {}", values.len(), random.len())),
        ]);
    }
    format!(
        "Against random search ({what}):\n\n{}\nWith few seeds a permutation test cannot \
         reach small p-values (5 against 5: p >= 2/252 = 0.008).\n",
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
        let md = against_random(
            "best one-shot accuracy",
            &[
                ("random".into(), vec![0.49, 0.50, 0.51]),
                ("evolution".into(), vec![0.59, 0.60, 0.61]),
            ],
        );
        assert!(
            md.contains("| evolution | 0.1000 |") && md.contains("| yes |"),
            "{md}"
        );
    }
}
