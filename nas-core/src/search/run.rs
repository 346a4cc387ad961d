//! The resumable ask/tell search loop.

use thiserror::Error;

use super::{EvalError, Evaluated, Evaluator, Metrics, SearchCheckpoint, SearchStore, StoreError};
use crate::strategy::{Strategy, StrategyError};

/// What a search is: its seed (the strategy must have been built with it) and its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchSpec {
    /// The seed the strategy was built with (checked against a stored checkpoint).
    pub seed: u64,
    /// Evaluations (distinct or not) the strategy may ask for.
    pub budget: usize,
}

/// A search that cannot go on.
#[derive(Debug, Error)]
pub enum SearchError {
    /// The strategy refused something (a state, an architecture).
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    /// An evaluation failed.
    #[error("evaluation {index} ({arch}): {source}")]
    Eval {
        /// Its position in the search.
        index: usize,
        /// The architecture, in text form.
        arch: String,
        /// Why.
        source: EvalError,
    },
    /// The store could not be read or written.
    #[error("search storage: {0}")]
    Store(StoreError),
    /// The store holds another search.
    #[error(
        "the stored search is strategy '{found}' seed {found_seed}, not '{strategy}' seed {seed}"
    )]
    Mismatch {
        /// The strategy of this search.
        strategy: String,
        /// Its seed.
        seed: u64,
        /// The strategy of the stored one.
        found: String,
        /// Its seed.
        found_seed: u64,
    },
    /// The stored log and checkpoint do not fit together.
    #[error("the stored search is damaged: {0}")]
    Damaged(String),
}

/// Hears about a search's progress (progress bars, logs). Every method does nothing by
/// default; `()` is an observer that ignores everything.
pub trait SearchObserver {
    /// The search starts (or resumes) with `done` of `budget` evaluations told.
    fn on_start(&mut self, _done: usize, _budget: usize) {}
    /// `record` was told to the strategy; `best` is the best accuracy so far.
    fn on_told(&mut self, _record: &Evaluated, _best: f64) {}
}

impl SearchObserver for () {}

/// Runs (or resumes) a search: asks `strategy` for architectures, scores them with
/// `evaluator`, tells it the metrics, until `spec.budget` evaluations are told; returns
/// every evaluation in order.
///
/// Each evaluation is appended to `store` before the strategy hears it, then the
/// strategy's checkpoint is saved. On a later call with a fresh strategy (built with the
/// same name, configuration and seed) the search resumes from the checkpoint; evaluations
/// logged after it are replayed from the log, never evaluated again. A stored search that
/// reached the budget returns at once; a larger budget continues it.
pub fn run_search(
    strategy: &mut dyn Strategy,
    spec: &SearchSpec,
    evaluator: &mut dyn Evaluator,
    store: &mut dyn SearchStore,
    observer: &mut dyn SearchObserver,
) -> Result<Vec<Evaluated>, SearchError> {
    let name = strategy.name();
    let stored = store.load().map_err(SearchError::Store)?;
    let mut records = stored.records;
    for (i, r) in records.iter().enumerate() {
        if r.index != i {
            return Err(SearchError::Damaged(format!(
                "record {i} of the log has index {}",
                r.index
            )));
        }
    }
    let mut told = 0;
    if let Some(ck) = stored.checkpoint {
        if ck.strategy != name || ck.seed != spec.seed {
            return Err(SearchError::Mismatch {
                strategy: name.to_string(),
                seed: spec.seed,
                found: ck.strategy,
                found_seed: ck.seed,
            });
        }
        strategy.restore(ck.state)?;
        told = ck.told;
        if records.len() < told {
            return Err(SearchError::Damaged(format!(
                "the log has {} evaluations but the strategy was told {told}",
                records.len()
            )));
        }
    }
    observer.on_start(told.min(spec.budget), spec.budget);
    let mut best = records[..told.min(records.len())]
        .iter()
        .map(|r| r.accuracy)
        .fold(f64::NAN, f64::max);
    for index in told..spec.budget {
        let arch = strategy.ask();
        let text = arch.to_string();
        let metrics: Metrics = match records.get(index) {
            // Logged before an interruption that came before the checkpoint.
            Some(r) if r.arch == text => r.metrics(),
            Some(r) => {
                return Err(SearchError::Damaged(format!(
                    "evaluation {index} in the log is {} but the restored strategy asks for {text}",
                    r.arch
                )));
            }
            None => {
                let m = evaluator
                    .evaluate(&arch)
                    .map_err(|source| SearchError::Eval {
                        index,
                        arch: text.clone(),
                        source,
                    })?;
                let rec = Evaluated {
                    index,
                    arch: text,
                    accuracy: m.accuracy,
                    loss: m.loss,
                    examples: m.examples,
                };
                store.append(&rec).map_err(SearchError::Store)?;
                records.push(rec);
                m
            }
        };
        strategy.tell(&arch, &metrics)?;
        store
            .save(&SearchCheckpoint {
                strategy: name.to_string(),
                seed: spec.seed,
                told: index + 1,
                state: strategy.save(),
            })
            .map_err(SearchError::Store)?;
        best = best.max(metrics.accuracy);
        observer.on_told(&records[index], best);
    }
    records.truncate(spec.budget);
    store.finish(&records).map_err(SearchError::Store)?;
    Ok(records)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
