//! `nas study all`: every analysis of docs/method.md section 6 in one command, and one
//! self-contained report of it (`RUN/study/all/README.md`) that can be published, e.g.
//! into the repository's `docs/results/NAME`.
//!
//! The analyses are the ordinary ones, each keyed and resumable in the run directory:
//! the dropout study (ranking quality over a uniform sample with intervals, the
//! stand-alone noise floor, the rate sweep, KL divergence, size bias) and the strategy
//! comparison on the supernet of the rate the dropout study chose. The report adds what a reader
//! needs to trust and repeat it: every invocation's exact command, commit, backend,
//! machine and wall time (a study stopped and resumed lists each invocation), the seed
//! and the configuration, and the figures against the targets of the analysis plan.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use nas_core::backend::NasAutodiffBackend;

use super::{Ctx, compare, dropout_study};
use crate::reports::all::{CompareRate, Invocation, publish_to, readme};
use crate::reports::provenance::{COMMIT, machine};
use crate::rundir::{JsonLog, key_of, write_atomic};

/// Runs every study of `ctx`'s configuration, writes `RUN/study/all/` and, with
/// `publish`, copies the report and its data there; returns the README's path.
pub fn all_studies<B: NasAutodiffBackend>(
    ctx: &Ctx<B>,
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
    // The strategies search with the supernet of the rate the study chose (repeat 0),
    // or of the configured rate when it chose none. Their winners are trained
    // stand-alone: a strategy that finds better one-shot scores has found better
    // architectures only if these say so.
    let (on, how) = match &dropout.chosen {
        Some(c) => (ctx.supernet_at(c.rate, 0), CompareRate::Chosen(c.rate)),
        None => (
            ctx.supernet.clone(),
            CompareRate::Configured(ctx.supernet.rate),
        ),
    };
    let compared = compare(ctx, &on, true)?;
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
        how,
    );
    let path = dir.join("README.md");
    write_atomic(&path, md.as_bytes())?;
    if let Some(to) = publish {
        publish_to(root, to)?;
        println!("published: {}", to.display());
    }
    Ok(path)
}
