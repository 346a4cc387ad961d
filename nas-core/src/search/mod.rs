//! The search layer without burn: what an evaluation returns ([`Metrics`]), what scores
//! architectures ([`Evaluator`]), and the resumable ask/tell loop ([`run_search`]) that
//! drives any registered strategy against any evaluator, logging into any
//! [`SearchStore`].

mod run;
mod store;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::space::{Architecture, SpaceError};

pub use run::{SearchError, SearchObserver, SearchSpec, run_search};
pub use store::{MemoryStore, SearchCheckpoint, SearchStore, StoreError, Stored};

/// Summary metrics of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Fraction of examples classified correctly (what strategies maximise).
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Number of examples evaluated.
    pub examples: usize,
}

/// An architecture that could not be evaluated.
#[derive(Debug, Error)]
pub enum EvalError {
    /// The architecture is not in the evaluator's space.
    #[error("architecture rejected: {0}")]
    Space(#[from] SpaceError),
    /// The evaluation data do not fit the model.
    #[error("evaluation data do not fit the model: {0}")]
    Data(String),
    /// Anything else the evaluator ran into.
    #[error("evaluation failed: {0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What scores architectures for a search: a supernet (one-shot), a stand-alone trainer,
/// a surrogate, or a synthetic objective in tests.
pub trait Evaluator {
    /// Evaluates `arch`; higher accuracy is better.
    fn evaluate(&mut self, arch: &Architecture) -> Result<Metrics, EvalError>;
}

impl<F> Evaluator for F
where
    F: FnMut(&Architecture) -> Result<Metrics, EvalError>,
{
    fn evaluate(&mut self, arch: &Architecture) -> Result<Metrics, EvalError> {
        self(arch)
    }
}

/// One evaluated architecture in a search log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluated {
    /// Position in the search, from 0.
    pub index: usize,
    /// The architecture in text form.
    pub arch: String,
    /// Accuracy the evaluator gave (one-shot validation accuracy in a normal run).
    pub accuracy: f64,
    /// Mean cross-entropy the evaluator gave.
    pub loss: f64,
    /// Examples it was evaluated on.
    pub examples: usize,
}

impl Evaluated {
    /// The metrics of this record.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            accuracy: self.accuracy,
            loss: self.loss,
            examples: self.examples,
        }
    }
}

/// The best evaluation of a search: highest accuracy, the earliest on ties.
pub fn best_of(evaluated: &[Evaluated]) -> Option<&Evaluated> {
    evaluated.iter().max_by(|a, b| {
        a.accuracy
            .total_cmp(&b.accuracy)
            .then(b.index.cmp(&a.index))
    })
}
