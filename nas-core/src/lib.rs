//! Core of the one-shot architecture search toolkit.
//!
//! It implements the method of "Understanding and Simplifying One-shot Architecture
//! Search" (Bender et al., ICML 2018), generic over any burn backend:
//!
//! Without burn (`default-features = false`, what strategy crates use):
//!
//! - [`space`]: the search space as plain data: architectures, their text and JSON forms,
//!   validation, counting, sampling, mutation and the discrete decisions controllers see.
//! - [`strategy`]: the typed strategy trait, the object-safe trait the registry hands out,
//!   and the plug-in registry ([`register_strategy!`]).
//! - [`search`]: [`search::Metrics`], the [`search::Evaluator`] trait, and the resumable
//!   ask/tell loop over a [`search::SearchStore`].
//!
//! With the default `burn` feature:
//!
//! - [`backend`]: [`backend::NasBackend`], the backend operations the networks need beyond
//!   burn's (a depthwise convolution with its own backward pass).
//! - [`ops`]: the candidate operations and cell parts as burn modules.
//! - [`network`]: the cell-based network shared by the supernet and stand-alone models.
//! - [`supernet`]: the one-shot model with path dropout, ghost batches, batch-statistics
//!   normalisation and L2 on active paths only.
//! - [`standalone`]: a model of one architecture, built from the same modules.
//! - [`train`]: training loops with hooks; [`eval`]: one-shot and stand-alone evaluation
//!   (the supernet's [`search::Evaluator`]).
//! - [`data`]: image data sets and batching; [`stats`]: parameter and multiply-add counts.
#![warn(missing_docs)]

pub mod search;
pub mod space;
pub mod strategy;

#[cfg(feature = "burn")]
pub mod backend;
#[cfg(feature = "burn")]
pub mod data;
#[cfg(feature = "burn")]
pub mod eval;
#[cfg(feature = "burn")]
pub mod init;
#[cfg(feature = "burn")]
pub mod network;
#[cfg(feature = "burn")]
pub mod ops;
#[cfg(feature = "burn")]
pub mod standalone;
#[cfg(feature = "burn")]
pub mod stats;
#[cfg(feature = "burn")]
pub mod supernet;
#[cfg(feature = "burn")]
pub mod train;

pub use space::{Architecture, OpKind, SearchSpace};
#[cfg(feature = "burn")]
pub use standalone::StandaloneModel;
#[cfg(feature = "burn")]
pub use supernet::Supernet;

#[doc(hidden)]
pub use inventory;
