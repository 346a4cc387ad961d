//! The run directory: its layout and every file format in it. Nothing else in the
//! harness spells a file name.
//!
//! ```text
//! RUN/config.toml                          the configuration last used (a valid --config file)
//! RUN/lock                                 held by the process working here (who it is, inside)
//! RUN/supernet/KEY/setup.json              what the supernet depends on (KEY hashes it)
//! RUN/supernet/KEY/progress.json           epochs done, checkpoint names, per-epoch figures
//! RUN/supernet/KEY/model-eNNNN.mpk         weights after epoch NNNN (burn recorder)
//! RUN/supernet/KEY/optim-eNNNN.mpk         optimizer state after epoch NNNN
//! RUN/supernet/KEY/scores/EVAL.jsonl       its one-shot scores, one line per architecture,
//!                                          under the evaluation settings EVAL hashes
//! RUN/supernet/KEY/scores/EVAL.json        those settings
//! RUN/search/STRATEGY-sSEED-KEY/setup.json what the search depends on (supernet key included)
//! RUN/search/STRATEGY-sSEED-KEY/evaluated.jsonl|csv   every evaluation, in order
//! RUN/search/STRATEGY-sSEED-KEY/strategy.json         strategy checkpoint
//! RUN/standalone/KEY.json                  one stand-alone training (KEY hashes arch + setup)
//! RUN/standalone/KEY.failed.json           one that diverged, and why
//! RUN/report.json, RUN/summary.md, RUN/plots/*.svg    the last run's report
//! RUN/compare/summary.md|results.csv|results.json|curves.svg   the last comparison
//! RUN/study/dropout/summary.md|report.json|results.csv|plots/   the last dropout study
//! ```
//!
//! Every result is keyed by what it depends on, so runs with other settings in the same
//! directory reuse what is still valid (a trained supernet for a search with another
//! strategy, a search for a retraining with other epochs) and compute the rest.

mod files;
mod lock;
mod scores;
mod search;
mod supernet;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::config::Config;
use crate::export::Table;
use crate::records::{Failure, Outcome, Standalone};

pub use files::{
    JsonLog, STALE_AFTER, is_temporary, key_of, read_json, remove_stale_temporaries, seed_of,
    write_atomic, write_json,
};
pub use lock::RunLock;
pub use scores::{CachedScore, ScoreCache, score_cache};
pub use search::SearchDir;
pub use supernet::{SupernetDir, SupernetProgress};

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root` (nothing is created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// Its path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path inside it, for messages.
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The configuration saved by the last command, if any.
    pub fn saved_config(&self) -> Result<Option<Config>> {
        let p = self.path("config.toml");
        if !p.exists() {
            return Ok(None);
        }
        Config::load(&p).map(Some)
    }

    /// Creates the directory, takes its lock (one process per run directory; the
    /// holder keeps the returned guard for as long as it works there) and saves the
    /// configuration used.
    pub fn create(&self, cfg: &Config) -> Result<RunLock> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("creating the run directory {}", self.root.display()))?;
        let lock = lock::lock(&self.root)?;
        let removed = remove_stale_temporaries(&self.root, 4, STALE_AFTER);
        if removed > 0 {
            tracing::info!("removed {removed} temporary file(s) left by killed processes");
        }
        write_atomic(&self.path("config.toml"), cfg.to_toml()?.as_bytes())?;
        Ok(lock)
    }

    /// The supernet trained with settings whose key is `key`.
    pub fn supernet(&self, key: &str) -> SupernetDir {
        SupernetDir::new(self.path(&format!("supernet/{key}")))
    }

    /// The search of `strategy` with `seed` whose setup has key `key`.
    pub fn search(&self, strategy: &str, seed: u64, key: &str) -> SearchDir {
        SearchDir::new(self.path(&format!("search/{strategy}-s{seed}-{key}")))
    }

    fn standalone_path(&self, key: &str) -> PathBuf {
        self.path(&format!("standalone/{key}.json"))
    }

    /// The stand-alone result with key `key`, if it was trained before.
    pub fn read_standalone(&self, key: &str) -> Result<Option<Standalone>> {
        read_json(&self.standalone_path(key))
    }

    fn failure_path(&self, key: &str) -> PathBuf {
        self.path(&format!("standalone/{key}.failed.json"))
    }

    /// How the stand-alone training with key `key` ended, if it was done before: its
    /// result, or the record of its failure.
    pub fn read_outcome(&self, key: &str) -> Result<Option<Outcome>> {
        if let Some(done) = self.read_standalone(key)? {
            return Ok(Some(Ok(done)));
        }
        Ok(read_json::<Failure>(&self.failure_path(key))?.map(Err))
    }

    /// Saves how a stand-alone training ended; returns the file's path.
    pub fn write_outcome(&self, o: &Outcome) -> Result<PathBuf> {
        match o {
            Ok(s) => self.write_standalone(s),
            Err(f) => {
                let p = self.failure_path(&f.key);
                write_json(&p, f)?;
                Ok(p)
            }
        }
    }

    /// Saves a stand-alone result; returns its path.
    pub fn write_standalone(&self, s: &Standalone) -> Result<PathBuf> {
        let p = self.standalone_path(&s.key);
        write_json(&p, s)?;
        Ok(p)
    }

    /// Writes the run report: `report.json` and `summary.md`.
    pub fn write_report<T: Serialize>(&self, report: &T, markdown: &str) -> Result<PathBuf> {
        write_json(&self.path("report.json"), report)?;
        let summary = self.path("summary.md");
        write_atomic(&summary, markdown.as_bytes())?;
        Ok(summary)
    }

    /// Where the run report's plot `name` (e.g. `search`) goes.
    pub fn plot(&self, name: &str) -> Result<PathBuf> {
        let dir = self.path("plots");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir.join(format!("{name}.svg")))
    }

    /// Where the comparison's best-so-far curves go.
    pub fn compare_curves(&self) -> Result<PathBuf> {
        let dir = self.path("compare");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir.join("curves.svg"))
    }

    /// Where plot `name` of study `study` goes (`study/STUDY/plots/NAME.svg`).
    pub fn study_plot(&self, study: &str, name: &str) -> Result<PathBuf> {
        let dir = self.path("study").join(study).join("plots");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir.join(format!("{name}.svg")))
    }

    /// Writes study `study`: `report.json`, `summary.md` (`markdown`) and the rows as
    /// `results.csv` and `results.json`; returns the summary's path.
    pub fn write_study<T: Serialize>(
        &self,
        study: &str,
        report: &T,
        markdown: &str,
        rows: &Table,
    ) -> Result<PathBuf> {
        let dir = self.path("study").join(study);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write_json(&dir.join("report.json"), report)?;
        write_atomic(&dir.join("results.csv"), &rows.to_csv()?)?;
        write_json(&dir.join("results.json"), &rows.to_json())?;
        let summary = dir.join("summary.md");
        write_atomic(&summary, markdown.as_bytes())?;
        Ok(summary)
    }

    /// Writes a comparison: `summary.md` (`markdown`) and the rows as `results.csv` and
    /// `results.json`; returns the summary's path.
    pub fn write_compare(&self, markdown: &str, rows: &Table) -> Result<PathBuf> {
        let dir = self.path("compare");
        write_atomic(&dir.join("results.csv"), &rows.to_csv()?)?;
        write_json(&dir.join("results.json"), &rows.to_json())?;
        let summary = dir.join("summary.md");
        write_atomic(&summary, markdown.as_bytes())?;
        Ok(summary)
    }
}
