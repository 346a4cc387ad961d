//! Where a search keeps its log and its strategy checkpoint.

use serde::{Deserialize, Serialize};

use super::Evaluated;

/// Errors of a [`SearchStore`] (a file that cannot be written, ...).
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// The strategy's state after `told` evaluations were told to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchCheckpoint {
    /// The strategy's registered name.
    pub strategy: String,
    /// The search's seed.
    pub seed: u64,
    /// Evaluations told so far.
    pub told: usize,
    /// The strategy's saved state ([`crate::strategy::Strategy::save`]).
    pub state: serde_json::Value,
}

/// What a store holds when a search starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stored {
    /// The logged evaluations, in order. There may be more than the checkpoint's `told`
    /// (evaluations logged before an interruption, whose checkpoint was not yet saved).
    pub records: Vec<Evaluated>,
    /// The last saved checkpoint.
    pub checkpoint: Option<SearchCheckpoint>,
}

/// The log and checkpoint storage of one search. [`super::run_search`] appends each
/// evaluation before it tells the strategy, then saves the checkpoint, so a search
/// interrupted anywhere resumes without evaluating anything twice.
pub trait SearchStore {
    /// What was stored by earlier sessions of this search.
    fn load(&mut self) -> Result<Stored, StoreError>;
    /// Appends one evaluation to the log (durably, before returning).
    fn append(&mut self, record: &Evaluated) -> Result<(), StoreError>;
    /// Replaces the checkpoint (atomically).
    fn save(&mut self, checkpoint: &SearchCheckpoint) -> Result<(), StoreError>;
    /// Called once the budget is spent, with every record (e.g. to write a table).
    fn finish(&mut self, _records: &[Evaluated]) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A store in memory (tests, and searches that need no files).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryStore {
    /// What is stored.
    pub stored: Stored,
    /// Whether [`SearchStore::finish`] was called.
    pub finished: bool,
}

impl SearchStore for MemoryStore {
    fn load(&mut self) -> Result<Stored, StoreError> {
        Ok(self.stored.clone())
    }
    fn append(&mut self, record: &Evaluated) -> Result<(), StoreError> {
        self.stored.records.push(record.clone());
        Ok(())
    }
    fn save(&mut self, checkpoint: &SearchCheckpoint) -> Result<(), StoreError> {
        self.stored.checkpoint = Some(checkpoint.clone());
        Ok(())
    }
    fn finish(&mut self, _records: &[Evaluated]) -> Result<(), StoreError> {
        self.finished = true;
        Ok(())
    }
}
