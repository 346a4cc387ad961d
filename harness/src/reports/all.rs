//! The report of `nas study all` (`RUN/study/all/README.md`): every invocation, the
//! figures against the targets of the analysis plan, the dropout study's and the
//! comparison's summaries; and its publication into a folder such as
//! `docs/results/NAME`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::dropout::DropoutReport;
use super::{NoiseFloor, runs_to_agree};
use crate::export::{Cell, Table};
use crate::rundir::{is_temporary, write_atomic};

/// One invocation of `nas study all` on a run directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invocation {
    /// The command line, shell-quoted, program name as `nas`.
    pub command: String,
    /// [`COMMIT`] of the binary.
    pub commit: String,
    /// Crate version of the binary.
    pub version: String,
    /// Backend and device.
    pub backend: String,
    /// Cores, processor and memory of the machine.
    pub machine: String,
    /// When it started (UTC, RFC 3339).
    pub started: String,
    /// Its wall time in seconds.
    pub seconds: f64,
}

/// The files of a study that a publication copies (relative to the run directory, and
/// where they go in it).
const PUBLISHED: &[(&str, &str)] = &[
    ("study/all/README.md", "README.md"),
    ("study/all/invocations.jsonl", "invocations.jsonl"),
    ("config.toml", "config.toml"),
    ("study/dropout/report.json", "dropout/report.json"),
    ("study/dropout/results.csv", "dropout/results.csv"),
    ("study/dropout/results.json", "dropout/results.json"),
    ("study/dropout/plots", "dropout/plots"),
    ("compare/results.csv", "compare/results.csv"),
    ("compare/results.json", "compare/results.json"),
    ("compare/curves.svg", "compare/curves.svg"),
];

/// Copies the study's report and data from `run` into `to`, replacing what an earlier
/// publication put there (other files in `to`, such as a written reading, are kept).
pub fn publish_to(run: &Path, to: &Path) -> Result<()> {
    for (from, dest) in PUBLISHED {
        let (from, dest) = (run.join(from), to.join(dest));
        if from.is_dir() {
            if dest.exists() {
                std::fs::remove_dir_all(&dest)
                    .with_context(|| format!("replacing {}", dest.display()))?;
            }
            std::fs::create_dir_all(&dest)
                .with_context(|| format!("creating {}", dest.display()))?;
            let mut entries: Vec<_> = std::fs::read_dir(&from)
                .with_context(|| format!("reading {}", from.display()))?
                .collect::<std::io::Result<_>>()?;
            entries.sort_by_key(std::fs::DirEntry::file_name);
            // A killed write's hidden temporary file is not part of the results.
            entries.retain(|e| !is_temporary(&e.file_name().to_string_lossy()));
            for e in entries {
                copy(&e.path(), &dest.join(e.file_name()))?;
            }
        } else {
            copy(&from, &dest)?;
        }
    }
    Ok(())
}

/// Copies one file (through a temporary file, so a reader never sees half of it).
fn copy(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_atomic(to, &bytes)
}

/// One target of the analysis plan: what is asked, what was measured, whether it is met.
#[derive(Debug, Clone)]
pub struct Target {
    /// What is asked.
    pub what: String,
    /// What was measured.
    pub measured: String,
    /// Whether it is met (`None`: not measured).
    pub met: Option<bool>,
}

/// The figures of `r` against the analysis plan's targets (docs/method.md section 6):
/// at the chosen rate (chosen on the selection sample where there is one), over the
/// reported sample, against stand-alone test accuracy.
pub fn targets(r: &DropoutReport) -> Vec<Target> {
    let mut t = Vec::new();
    let chosen = r.chosen.as_ref().zip(r.chosen_rate());
    match chosen {
        Some((c, x)) => {
            let at = format!(
                "at r = {} ({})",
                c.rate,
                if c.disjoint {
                    "chosen on the selection sample"
                } else {
                    "chosen on the reported sample's validation accuracy: biased upwards"
                }
            );
            let test = x.test_correlation.as_ref();
            let rho = test.map(|a| a.spearman);
            t.push(Target {
                what: "Spearman >= 0.7 vs stand-alone test, with the interval's lower bound \
                       >= 0.3, at the chosen rate"
                    .into(),
                measured: format!("{} {at}", rho.map_or("n/a".into(), |e| e.text())),
                met: rho.and_then(|e| Some(e.value? >= 0.7 && e.ci95?.0 >= 0.3)),
            });
            let tau = test.map(|a| a.kendall);
            t.push(Target {
                what: "Kendall tau-b >= 0.55 at the chosen rate".into(),
                measured: tau.map_or("n/a".into(), |e| e.text()),
                met: tau.and_then(|e| Some(e.value? >= 0.55)),
            });
            t.push(Target {
                what: "one-shot ranks better than parameter count: the paired interval of \
                       Spearman(one-shot) - Spearman(params) above 0"
                    .into(),
                measured: x.params_difference.map_or("n/a".into(), |e| e.text()),
                met: x.params_difference.and_then(|e| Some(e.ci95?.0 > 0.0)),
            });
            if let (Some(p), Some(d)) = (&r.proxy, x.proxy_difference) {
                t.push(Target {
                    what: format!(
                        "one-shot ranks better than training each architecture {} steps \
                         from scratch ({} seed(s)): the paired interval of \
                         Spearman(one-shot) - Spearman(baseline) above 0",
                        p.steps, p.seeds
                    ),
                    measured: format!(
                        "{} (the baseline alone: {})",
                        d.text(),
                        p.test_correlation.spearman.text()
                    ),
                    met: d.ci95.map(|ci| ci.0 > 0.0),
                });
            }
            t.push(match &x.one_shot_noise {
                Some(n) => Target {
                    what: "two supernets at the chosen rate agree: Spearman >= 0.8".into(),
                    measured: agreement_text(n, x.one_shot_loss_noise.as_ref()),
                    met: n.seed_to_seed.spearman.value.map(|v| v >= 0.8),
                },
                None => Target {
                    what: "two supernets at the chosen rate agree: Spearman >= 0.8".into(),
                    measured: "not measured: set study.supernet_seeds >= 2".into(),
                    met: None,
                },
            });
        }
        None => t.push(Target {
            what: "a chosen rate".into(),
            measured: "none: no correlation was defined".into(),
            met: None,
        }),
    }
    t.push(match &r.rate_test {
        Some(p) => Target {
            what: "the rate changes the ranking (permutation test, p < 0.05)".into(),
            measured: format!(
                "span of the rates' Spearmans {:.3}, p = {:.3} ({} permutations)",
                p.statistic, p.p_value, p.permutations
            ),
            met: Some(p.p_value < 0.05),
        },
        None => Target {
            what: "the rate changes the ranking (permutation test, p < 0.05)".into(),
            measured: "not tested: one rate".into(),
            met: None,
        },
    });
    // The paper expects architectures close to the whole supernet to be the better
    // ones: a negative correlation of KL divergence with stand-alone accuracy.
    let kl = r
        .rates
        .iter()
        .filter_map(|x| Some((x.rate, x.kl_vs_standalone.as_ref()?)))
        .filter_map(|(rate, a)| Some((rate, a.spearman.value?, a)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    t.push(match kl {
        Some((rate, v, a)) => Target {
            what: "Spearman(KL, stand-alone) <= -0.6, the sign the paper predicts (at its \
                   most negative rate)"
                .into(),
            measured: format!("{} at r = {rate}", a.spearman.text()),
            met: Some(v <= -0.6),
        },
        None => Target {
            what: "Spearman(KL, stand-alone) <= -0.6".into(),
            measured: "not measured (study.kl_examples = 0)".into(),
            met: None,
        },
    });
    t.push(match &r.test_noise.as_ref().or(r.noise.as_ref()) {
        Some(n) => Target {
            what: "stand-alone seed noise well below the spread between architectures \
                   (seed std <= half of it)"
                .into(),
            measured: format!(
                "{:.4} against {:.4} (ratio {:.2}); seed-to-seed Spearman {}{}",
                n.seed_std,
                n.between_std,
                n.seed_std / n.between_std,
                n.seed_to_seed.spearman.text(),
                if r.test_noise.is_some() {
                    " (test)"
                } else {
                    " (validation)"
                }
            ),
            met: Some(n.seed_std <= 0.5 * n.between_std),
        },
        None => Target {
            what: "stand-alone seed noise measured".into(),
            measured: "no: set retrain.seeds >= 2".into(),
            met: None,
        },
    });
    t
}

/// Which supernet the strategy comparison searched with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CompareRate {
    /// The supernet of the rate the dropout study chose (repeat 0).
    Chosen(f64),
    /// The supernet of the configured rate (the study chose none).
    Configured(f64),
}

impl CompareRate {
    /// The report's words for it.
    pub fn describe(self) -> String {
        match self {
            CompareRate::Chosen(r) => format!(
                "the supernet of the rate the dropout study chose (r = {r}, its first seed)"
            ),
            CompareRate::Configured(r) => format!(
                "the supernet of the configured rate (`supernet.drop_path.r_max` = {r}): \
                 the dropout study chose none"
            ),
        }
    }
}

/// The report: facts, targets, then the dropout study's and the comparison's summaries
/// (their headings moved one level down).
pub fn readme(
    invocations: &[Invocation],
    seed: u64,
    config_key: &str,
    dropout: &DropoutReport,
    dropout_md: &str,
    compare_md: &str,
    compare_rate: CompareRate,
) -> String {
    let mut md = String::from("# One-shot model against stand-alone training: every study\n\n");
    let total: f64 = invocations.iter().map(|i| i.seconds).sum();
    let _ = writeln!(
        md,
        "- Seed: {seed}; configuration: `config.toml` (hash `{config_key}`), backend `{}`; \
         CPU extensions `{}` (CPU results are bit-identical where these agree)",
        dropout.backend, dropout.provenance.cpu
    );
    let _ = writeln!(
        md,
        "- Wall time: {} in {} invocation(s) (work done by earlier invocations on the same \
         run directory, e.g. one that was stopped, is read back, not redone)",
        duration(total),
        invocations.len()
    );
    let mut inv = Table::new(&[
        ("started", "started (UTC)"),
        ("command", "command"),
        ("commit", "commit"),
        ("machine", "machine"),
        ("wall", "wall time"),
    ]);
    for i in invocations {
        inv.push(vec![
            Cell::text(i.started.clone()),
            Cell::code(i.command.clone()),
            Cell::code(format!("{} (v{})", i.commit, i.version)),
            Cell::text(i.machine.clone()),
            Cell::text(duration(i.seconds)),
        ]);
    }
    let _ = write!(md, "\n{}\n", inv.to_markdown());
    let mut t = Table::new(&[
        ("target", "target"),
        ("measured", "measured [95% CI]"),
        ("met", "met"),
    ]);
    for x in targets(dropout) {
        t.push(vec![
            Cell::text(x.what),
            Cell::text(x.measured),
            Cell::text(match x.met {
                Some(true) => "yes",
                Some(false) => "no",
                None => "n/a",
            }),
        ]);
    }
    let _ = write!(
        md,
        "## Against the targets\n\nThe targets of the analysis plan (docs/method.md, section \
         6), checked by the program on the figures below.\n\n{}\n",
        t.to_markdown()
    );
    md.push_str(&demote(dropout_md, "dropout/"));
    md.push('\n');
    // The comparison's heading, then which supernet it used, then the rest.
    let compare = demote(compare_md, "compare/");
    let (heading, rest) = compare.split_once('\n').unwrap_or((&compare, ""));
    let _ = write!(
        md,
        "{heading}\n\nThe strategies search with {}.\n{rest}",
        compare_rate.describe()
    );
    md.push_str(
        "\n## Files\n\n- `config.toml`: the configuration (a valid `--config` file)\n\
         - `invocations.jsonl`: the invocations above\n\
         - `dropout/report.json`, `dropout/results.csv|json`, `dropout/plots/*.svg`: the \
         dropout, KL and size study\n\
         - `compare/results.csv|json`, `compare/curves.svg`: the strategy comparison\n",
    );
    md
}

/// A summary's headings one level down, and its file names (`plots/x.svg`,
/// `results.csv`, `curves.svg`) prefixed with the folder they are published in.
fn demote(md: &str, folder: &str) -> String {
    let mut out = String::new();
    for line in md.lines() {
        let line = if line.starts_with('#') {
            format!("#{line}")
        } else {
            line.replace("`plots/", &format!("`{folder}plots/"))
                .replace("`results.csv`", &format!("`{folder}results.csv`"))
                .replace("`curves.svg`", &format!("`{folder}curves.svg`"))
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `1 h 02 min`, `12 min 05 s` or `42 s`.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    }
}

/// Two supernets' agreement by accuracy, then by loss and, with 4 or more supernets,
/// between the means of half of them and of the other half (the target is judged on the
/// first figure alone).
fn agreement_text(n: &NoiseFloor, by_loss: Option<&NoiseFloor>) -> String {
    let mut text = n.seed_to_seed.spearman.text();
    if let Some(l) = by_loss {
        text.push_str(&format!("; by loss {}", l.seed_to_seed.spearman.text()));
    }
    if let Some(h) = &n.halves {
        let k = n.seeds / 2;
        text.push_str(&format!(
            "; mean of {k} vs mean of {k}: {}",
            h.spearman.text()
        ));
        if let Some(lh) = by_loss.and_then(|l| l.halves.as_ref()) {
            text.push_str(&format!(", by loss {}", lh.spearman.text()));
        }
    }
    // What closing the gap would cost, by Spearman-Brown from the mean single pair.
    let pairs = n.seeds * (n.seeds - 1) / 2;
    let cost = |f: &NoiseFloor, what: &str| -> Option<String> {
        let r = f.pair_mean?;
        let k = runs_to_agree(r, 0.8)?;
        Some(format!(
            "{k} supernet{} each by {what} (mean of {pairs} pair{}: {r:.3})",
            if k == 1 { "" } else { "s" },
            if pairs == 1 { "" } else { "s" }
        ))
    };
    let costs: Vec<String> = [cost(n, "accuracy"), by_loss.and_then(|l| cost(l, "loss"))]
        .into_iter()
        .flatten()
        .collect();
    if !costs.is_empty() {
        text.push_str(&format!(
            "; by Spearman-Brown, two means agree at 0.8 with {}",
            costs.join(", ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agreement_target_names_every_measurement_it_has() {
        let runs: Vec<Vec<f64>> = (0..6)
            .map(|i| {
                let m = i as f64;
                vec![
                    m,
                    m + 0.1 * (i % 2) as f64,
                    m - 0.2,
                    m + 0.3 * (i % 3) as f64,
                ]
            })
            .collect();
        let acc = NoiseFloor::of_runs(&runs, 0).unwrap();
        let two = NoiseFloor::of_runs(&runs.iter().map(|r| r[..2].to_vec()).collect::<Vec<_>>(), 0)
            .unwrap();
        let all = agreement_text(&acc, Some(&acc));
        assert!(
            all.contains("; by loss ") && all.contains("; mean of 2 vs mean of 2: "),
            "{all}"
        );
        assert!(
            all.contains(&format!(
                ", by loss {}",
                acc.halves.unwrap().spearman.text()
            )),
            "{all}"
        );
        assert!(
            all.contains("; by Spearman-Brown, two means agree at 0.8 with ")
                && all.contains("(mean of 6 pairs: "),
            "{all}"
        );
        let single = two.seed_to_seed.spearman.text();
        let k = runs_to_agree(two.pair_mean.unwrap(), 0.8).unwrap();
        assert!(
            agreement_text(&two, None).starts_with(&format!(
                "{single}; by Spearman-Brown, two means agree at 0.8 with {k} supernet"
            )),
            "{}",
            agreement_text(&two, None)
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(725.0), "12 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
    }

    #[test]
    fn demoted_summaries_point_into_their_folder() {
        let md = demote(
            "# Title\n\n## Part\nPlots: `plots/a.svg`, every score: `results.csv`.\n",
            "dropout/",
        );
        assert_eq!(
            md,
            "## Title\n\n### Part\nPlots: `dropout/plots/a.svg`, every score: \
             `dropout/results.csv`.\n"
        );
    }
}
