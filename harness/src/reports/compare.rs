//! The strategy comparison's report: each strategy against random search over seeds.

use crate::export::{Cell, Table};
use crate::stats::{mean_difference_test, mean_std};

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
