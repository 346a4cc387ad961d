//! A search's folder: its setup, the evaluation log and the strategy checkpoint; the
//! file-backed [`SearchStore`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nas_core::search::{Evaluated, SearchCheckpoint, SearchStore, StoreError, Stored};
use serde::{Deserialize, Serialize};

use super::{JsonLog, read_json, write_atomic, write_json};

/// `computed_by.json` of a finished search.
#[derive(Debug, Serialize, Deserialize)]
struct ComputedBy {
    /// `local`, or the Slurm job (`slurm:JOB_TASK` for an array task).
    computed_by: String,
}

/// The folder of one search. As a [`SearchStore`], it appends each evaluation to
/// `evaluated.jsonl` (flushed to disk), saves the strategy checkpoint atomically, and
/// writes `evaluated.csv` when the budget is spent.
pub struct SearchDir {
    dir: PathBuf,
    log: Option<JsonLog>,
}

impl SearchDir {
    pub(super) fn new(dir: PathBuf) -> Self {
        SearchDir { dir, log: None }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Records what the search depends on.
    pub fn write_setup<T: Serialize>(&self, setup: &T) -> Result<()> {
        write_json(&self.dir.join("setup.json"), setup)
    }

    /// The checkpoint, if the strategy was told anything yet.
    pub fn checkpoint(&self) -> Result<Option<SearchCheckpoint>> {
        read_json(&self.dir.join("strategy.json"))
    }

    /// Who finished the search (`None` before it finished, or in folders older than
    /// this record).
    pub fn computed_by(&self) -> Result<Option<String>> {
        Ok(read_json::<ComputedBy>(&self.dir.join("computed_by.json"))?.map(|c| c.computed_by))
    }

    /// The evaluations logged so far (read only: a torn last line is left alone).
    pub fn read_log(&self) -> Result<Vec<Evaluated>> {
        let path = self.dir.join("evaluated.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        text.split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l.trim_end()).with_context(|| {
                    format!("{} line {} is not a valid record", path.display(), i + 1)
                })
            })
            .collect()
    }
}

impl SearchStore for SearchDir {
    fn load(&mut self) -> Result<Stored, StoreError> {
        let (log, records) = JsonLog::open::<Evaluated>(&self.dir.join("evaluated.jsonl"))?;
        self.log = Some(log);
        Ok(Stored {
            records,
            checkpoint: self.checkpoint()?,
        })
    }

    fn append(&mut self, record: &Evaluated) -> Result<(), StoreError> {
        match &mut self.log {
            Some(log) => Ok(log.append(record)?),
            None => Err("the search log was not opened".into()),
        }
    }

    fn save(&mut self, checkpoint: &SearchCheckpoint) -> Result<(), StoreError> {
        Ok(write_json(&self.dir.join("strategy.json"), checkpoint)?)
    }

    fn finish(&mut self, records: &[Evaluated]) -> Result<(), StoreError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in records {
            w.serialize(r)?;
        }
        let bytes = w.into_inner().map_err(|e| e.to_string())?;
        write_atomic(&self.dir.join("evaluated.csv"), &bytes)?;
        // Who finished it (`local`, or the Slurm job): a merge that had to finish a
        // search itself shows here. A finished search is finished again each time a
        // later command loads it (the merge, a report); that keeps the first record.
        let path = self.dir.join("computed_by.json");
        if !path.exists() {
            write_json(
                &path,
                &ComputedBy {
                    computed_by: crate::reports::provenance::computed_by(),
                },
            )?;
        }
        Ok(())
    }
}
