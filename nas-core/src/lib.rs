//! Core of the one-shot architecture search toolkit.
//!
//! It implements the method of "Understanding and Simplifying One-shot Architecture
//! Search" (Bender et al., ICML 2018), generic over any burn backend:
//!
//! - [`space`]: the search space as plain data: architectures, their text and JSON forms,
//!   validation, counting, sampling, mutation and the discrete decisions controllers see.
//! - [`ops`]: the candidate operations and cell parts as burn modules.
//! - [`network`]: the cell-based network shared by the supernet and stand-alone models.
//! - [`supernet`]: the one-shot model with path dropout, ghost batches, batch-statistics
//!   normalisation and L2 on active paths only.
//! - [`standalone`]: a model of one architecture, built from the same modules.
//! - [`train`]: training loops with hooks; [`eval`]: evaluation and the [`eval::Evaluator`]
//!   trait strategies see.
//! - [`data`]: image data sets and batching; [`stats`]: parameter and multiply-add counts.
//! - [`strategy`]: the ask/tell interface of search strategies and their plug-in registry.
#![warn(missing_docs)]

pub mod data;
pub mod eval;
pub mod network;
pub mod ops;
pub mod space;
pub mod standalone;
pub mod stats;
pub mod strategy;
pub mod supernet;
pub mod train;

pub use space::{Architecture, OpKind, SearchSpace};
pub use standalone::StandaloneModel;
pub use supernet::Supernet;
