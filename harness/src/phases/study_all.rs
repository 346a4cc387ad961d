//! `nas study all`: every analysis of docs/method.md section 6 in one command, and one
//! self-contained report of it (`RUN/study/all/README.md`) that can be published, e.g.
//! into the repository's `docs/results/NAME`.
//!
//! The analyses are the ordinary ones, each keyed and resumable in the run directory:
//! the dropout study (ranking quality over a uniform sample with intervals, the
//! stand-alone noise floor, the rate sweep, KL divergence, size bias) and the strategy
//! comparison on the supernet of the configured rate. The report adds what a reader
//! needs to trust and repeat it: every invocation's exact command, commit, backend,
//! machine and wall time (a study stopped and resumed lists each invocation), the seed
//! and the configuration, and the figures against the targets of the analysis plan.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use nas_core::backend::NasAutodiffBackend;
use serde::{Deserialize, Serialize};

use super::study::{DropoutReport, RateResult};
use super::{Ctx, compare, dropout_study};
use crate::export::{Cell, Table};
use crate::rundir::{JsonLog, is_temporary, key_of, write_atomic};

/// The commit the binary was built from (`-dirty`: with uncommitted changes).
pub const COMMIT: &str = env!("NAS_GIT_COMMIT");

/// `0.1.0 (abcdef123456)`: the crate version and the commit of the binary.
pub fn version() -> String {
    format!("{} ({COMMIT})", env!("CARGO_PKG_VERSION"))
}

/// The instruction-set extensions of this CPU that the CPU backends' kernels choose
/// between at run time, e.g. `x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx2+fma+f16c+bmi2`.
/// Each kernel sums in its own order, so CPU results are bit-identical across machines
/// whose extensions agree, and drift (from the last bits on) where they do not.
pub fn cpu_extensions() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let detected = [
            ("avx512f", std::is_x86_feature_detected!("avx512f")),
            ("avx512bw", std::is_x86_feature_detected!("avx512bw")),
            ("avx512cd", std::is_x86_feature_detected!("avx512cd")),
            ("avx512dq", std::is_x86_feature_detected!("avx512dq")),
            ("avx512vl", std::is_x86_feature_detected!("avx512vl")),
            ("avx512fp16", std::is_x86_feature_detected!("avx512fp16")),
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("fma", std::is_x86_feature_detected!("fma")),
            ("f16c", std::is_x86_feature_detected!("f16c")),
            ("bmi2", std::is_x86_feature_detected!("bmi2")),
            ("sse4.1", std::is_x86_feature_detected!("sse4.1")),
        ];
        std::iter::once("x86_64")
            .chain(detected.iter().filter(|(_, on)| *on).map(|(name, _)| *name))
            .collect::<Vec<_>>()
            .join("+")
    }
    #[cfg(target_arch = "aarch64")]
    {
        let fp16 = std::arch::is_aarch64_feature_detected!("fp16");
        if fp16 {
            "aarch64+fp16".into()
        } else {
            "aarch64".into()
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        std::env::consts::ARCH.to_string()
    }
}

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

/// Runs every study of `ctx`'s configuration, writes `RUN/study/all/` and, with
/// `publish`, copies the report and its data there; returns the README's path.
pub fn all_studies<B: NasAutodiffBackend>(
    ctx: &mut Ctx<B>,
    command: String,
    publish: Option<&Path>,
) -> Result<PathBuf> {
    let start = Instant::now();
    let started = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".to_string());
    let (_, dropout) = dropout_study(ctx)?;
    let compared = compare(ctx)?;
    let dir = ctx.run.root().join("study/all");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (mut log, mut invocations) = JsonLog::open::<Invocation>(&dir.join("invocations.jsonl"))?;
    let this = Invocation {
        command,
        commit: COMMIT.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        backend: ctx.backend.clone(),
        machine: machine(),
        started,
        seconds: start.elapsed().as_secs_f64(),
    };
    log.append(&this)?;
    invocations.push(this);
    let root = ctx.run.root();
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
    };
    let md = readme(
        &invocations,
        ctx.cfg.seed,
        &key_of(&ctx.cfg),
        &dropout,
        &read(root.join("study/dropout/summary.md"))?,
        &read(compared)?,
        ctx.supernet_cfg.drop_path.r_max,
    );
    let path = dir.join("README.md");
    write_atomic(&path, md.as_bytes())?;
    if let Some(to) = publish {
        publish_to(root, to)?;
        println!("published: {}", to.display());
    }
    Ok(path)
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
fn publish_to(run: &Path, to: &Path) -> Result<()> {
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

/// `2 cores (AMD EPYC 7B13), 23 GiB` from what the OS says (Linux; less elsewhere).
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let field = |file: &str, name: &str| {
        std::fs::read_to_string(file).ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
    };
    let cpu = field("/proc/cpuinfo", "model name").unwrap_or_else(|| std::env::consts::ARCH.into());
    let mem = field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| format!(", {:.0} GiB", kib / (1024.0 * 1024.0)))
        .unwrap_or_default();
    format!("{cores} cores ({cpu}){mem}")
}

/// The command line as typed, shell-quoted where needed, the program called `nas`.
pub fn command_line() -> String {
    let quote = |a: String| {
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
        if plain {
            a
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    std::iter::once("nas".to_string())
        .chain(std::env::args().skip(1).map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One target of the analysis plan: what is asked, what was measured, whether it is met.
struct Target {
    what: String,
    measured: String,
    met: Option<bool>,
}

/// The figures of `r` against the analysis plan's targets (docs/method.md section 6).
fn targets(r: &DropoutReport) -> Vec<Target> {
    let value = |x: &RateResult| x.correlation.spearman.value.unwrap_or(f64::NEG_INFINITY);
    let best = r.rates.iter().max_by(|a, b| value(a).total_cmp(&value(b)));
    let worst = r.rates.iter().min_by(|a, b| value(a).total_cmp(&value(b)));
    let mut t = Vec::new();
    let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
    if let (Some(best), Some(worst)) = (best, worst) {
        let c = &best.correlation;
        let at = format!("at r = {} (the best rate)", best.rate);
        t.push(Target {
            what: "Spearman >= 0.7 at the best rate".into(),
            measured: format!("{} {at}", c.spearman.text()),
            met: c.spearman.value.map(|v| v >= 0.7),
        });
        t.push(Target {
            what: "Kendall tau-b >= 0.55 at the best rate".into(),
            measured: c.kendall.text(),
            met: c.kendall.value.map(|v| v >= 0.55),
        });
        t.push(Target {
            what: "the interval's lower bound above 0 (Spearman, best rate)".into(),
            measured: fmt(c.spearman.ci95.map(|(lo, _)| lo)),
            met: c.spearman.ci95.map(|(lo, _)| lo > 0.0),
        });
        t.push(Target {
            what: "a visible rate dependence: the best rate's lower bound above the worst \
                   rate's Spearman"
                .into(),
            measured: format!(
                "{} at r = {} against {} at r = {}",
                fmt(c.spearman.ci95.map(|(lo, _)| lo)),
                best.rate,
                fmt(worst.correlation.spearman.value),
                worst.rate
            ),
            met: match (c.spearman.ci95, worst.correlation.spearman.value) {
                (Some((lo, _)), Some(w)) if r.rates.len() > 1 => Some(lo > w),
                _ => None,
            },
        });
    }
    let kl = r
        .rates
        .iter()
        .filter_map(|x| Some((x.rate, x.kl_vs_standalone.as_ref()?)))
        .filter_map(|(rate, a)| Some((rate, a.spearman.value?, a)))
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
    t.push(match kl {
        Some((rate, v, a)) => Target {
            what: "|Spearman(KL, stand-alone)| >= 0.6 (at its best rate)".into(),
            measured: format!("{} at r = {rate}", a.spearman.text()),
            met: Some(v.abs() >= 0.6),
        },
        None => Target {
            what: "|Spearman(KL, stand-alone)| >= 0.6".into(),
            measured: "not measured (study.kl_examples = 0)".into(),
            met: None,
        },
    });
    t.push(match &r.noise {
        Some(n) => Target {
            what: "stand-alone seed noise well below the spread between architectures \
                   (seed std <= half of it)"
                .into(),
            measured: format!(
                "{:.4} against {:.4} (ratio {:.2}); seed-to-seed Spearman {}",
                n.seed_std,
                n.between_std,
                n.seed_std / n.between_std,
                n.seed_to_seed.spearman.text()
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

/// The report: facts, targets, then the dropout study's and the comparison's summaries
/// (their headings moved one level down).
fn readme(
    invocations: &[Invocation],
    seed: u64,
    config_key: &str,
    dropout: &DropoutReport,
    dropout_md: &str,
    compare_md: &str,
    compare_rate: f64,
) -> String {
    let mut md = String::from("# One-shot model against stand-alone training: every study\n\n");
    let total: f64 = invocations.iter().map(|i| i.seconds).sum();
    let _ = writeln!(
        md,
        "- Seed: {seed}; configuration: `config.toml` (hash `{config_key}`), backend `{}`; \
         CPU extensions `{}` (CPU results are bit-identical where these agree)",
        dropout.backend, dropout.cpu
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
        "{heading}\n\nThe strategies search with the supernet of the configured rate \
         (`supernet.drop_path.r_max` = {compare_rate}).\n{rest}"
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

#[cfg(test)]
mod tests {
    use super::*;

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
