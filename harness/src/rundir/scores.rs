//! A supernet's one-shot score cache: every architecture scored with it, under one set
//! of evaluation settings, so that a rerun (a resumed study, another comparison on the
//! same supernet) reads scores back instead of computing them again.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{JsonLog, SupernetDir, key_of, write_json};

/// One cached score: an architecture (as written in the search space's notation) and its
/// one-shot metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedScore {
    /// The architecture.
    pub arch: String,
    /// One-shot accuracy on the validation images.
    pub accuracy: f64,
    /// One-shot loss (mean cross-entropy) on them.
    pub loss: f64,
    /// How many images.
    pub examples: usize,
}

/// The score cache of one supernet under one set of evaluation settings, open for
/// appending (or read-only: then appends are dropped).
pub struct ScoreCache {
    log: Option<JsonLog>,
    path: PathBuf,
}

impl ScoreCache {
    /// Appends a score (a no-op for a read-only cache).
    pub fn append(&mut self, score: &CachedScore) -> Result<()> {
        match &mut self.log {
            Some(log) => log.append(score),
            None => Ok(()),
        }
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops appending (after a failed write: the scores stay correct, only uncached).
    pub fn stop_writing(&mut self) {
        self.log = None;
    }
}

impl SupernetDir {
    /// The score cache of this supernet under the evaluation settings `setup` (hashed
    /// into its name, `scores/KEY.jsonl`, and saved beside it as `scores/KEY.json`),
    /// with the scores already in it. `write` opens it for appending; a process that does
    /// not hold the run directory's lock (a Slurm task) reads it only.
    pub fn scores<T: Serialize>(
        &self,
        setup: &T,
        write: bool,
    ) -> Result<(ScoreCache, Vec<CachedScore>)> {
        score_cache(&self.path().join("scores"), setup, write)
    }
}

/// The score cache in folder `dir` under the settings `setup` (hashed into its name,
/// `KEY.jsonl`, and saved beside it as `KEY.json`), with the scores already in it; see
/// [`SupernetDir::scores`].
pub fn score_cache<T: Serialize>(
    dir: &Path,
    setup: &T,
    write: bool,
) -> Result<(ScoreCache, Vec<CachedScore>)> {
    let key = key_of(setup);
    let path = dir.join(format!("{key}.jsonl"));
    let damaged = || {
        format!(
            "the score cache {} is damaged (delete it to score again)",
            path.display()
        )
    };
    if !write {
        let scores = JsonLog::read(&path).with_context(damaged)?;
        return Ok((ScoreCache { log: None, path }, scores));
    }
    let (log, scores) = JsonLog::open(&path).with_context(damaged)?;
    let setup_path = dir.join(format!("{key}.json"));
    if !setup_path.exists() {
        write_json(&setup_path, setup)?;
    }
    Ok((
        ScoreCache {
            log: Some(log),
            path,
        },
        scores,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(arch: &str, accuracy: f64) -> CachedScore {
        CachedScore {
            arch: arch.into(),
            accuracy,
            loss: 1.0 / 3.0,
            examples: 500,
        }
    }

    #[test]
    fn scores_come_back_exactly_and_per_settings() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SupernetDir::new(tmp.path().join("s"));
        let (mut cache, before) = dir.scores(&("flex", 250), true).unwrap();
        assert!(before.is_empty());
        let (a, b) = (score("a", 0.1 + 0.2), score("b", 0.7));
        cache.append(&a).unwrap();
        cache.append(&b).unwrap();
        drop(cache);
        // Floats round-trip bit for bit.
        assert_eq!(dir.scores(&("flex", 250), false).unwrap().1, [a.clone(), b]);
        // Other evaluation settings have their own cache.
        assert!(dir.scores(&("flex", 100), true).unwrap().1.is_empty());
        // A read-only cache does not write.
        let (mut ro, _) = dir.scores(&("ndarray", 250), false).unwrap();
        ro.append(&a).unwrap();
        assert!(!ro.path().exists());
        assert_eq!(
            std::fs::read_dir(dir.path().join("scores"))
                .unwrap()
                .count(),
            4,
            "two caches, each with its settings file"
        );
    }

    #[test]
    fn a_score_torn_by_a_kill_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SupernetDir::new(tmp.path().join("s"));
        let (mut cache, _) = dir.scores(&1, true).unwrap();
        cache.append(&score("a", 0.5)).unwrap();
        let path = cache.path().to_path_buf();
        drop(cache);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"arch\":\"b\",\"accu");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(dir.scores(&1, false).unwrap().1.len(), 1);
        let (mut cache, back) = dir.scores(&1, true).unwrap();
        assert_eq!(back.len(), 1);
        cache.append(&score("c", 0.25)).unwrap();
        drop(cache);
        let back = dir.scores(&1, false).unwrap().1;
        assert_eq!(
            back.iter().map(|s| s.arch.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
    }
}
