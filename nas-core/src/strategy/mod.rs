//! Search strategies: the ask/tell interface and the plug-in registry.
//!
//! A strategy author implements [`SearchStrategy`]: a name, a typed `Config` and a typed
//! `State` (both serde), and the algorithm (`new`, `init`, `ask`, `tell`). Everything that
//! changes during a search lives in the `State`, which `ask` and `tell` get by `&mut`
//! while the strategy itself is borrowed immutably, so saving and restoring a search can
//! never miss a field. One line registers it:
//!
//! ```ignore
//! nas_core::register_strategy!(MyStrategy);
//! ```
//!
//! The framework does the rest once for every strategy ([`Running`], through a blanket
//! implementation of the object-safe [`Strategy`] trait the registry hands out): reading
//! the configuration over its defaults with unknown keys rejected, checking that every
//! architecture told back belongs to the space, saving and restoring the state as JSON,
//! and refusing a saved state that belongs to another strategy.
//!
//! Strategies see only the [`SearchSpace`] and [`Metrics`]; this part of the crate does
//! not depend on burn. A strategy crate that nothing references can be dropped by the
//! linker together with its registration: every binary names each strategy crate it ships
//! (`use nas_strategy_x as _;`), and tests check that every expected name is registered.

mod registry;
mod typed;

use serde_json::Value;
use thiserror::Error;

use crate::search::Metrics;
use crate::space::{Architecture, SearchSpace, SpaceError};

pub use registry::{BuildFn, StrategyEntry, build, lookup, registry};
pub use typed::{Running, SearchStrategy};

/// Errors of strategies and of the registry.
#[derive(Debug, Error)]
pub enum StrategyError {
    /// No strategy of that name is linked into this binary.
    #[error("unknown strategy '{name}' (known: {})", known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names that are registered.
        known: Vec<String>,
    },
    /// Two linked crates register the same name.
    #[error(
        "two strategies are registered as '{name}' ({first} and {second}); names must be unique"
    )]
    Duplicate {
        /// The name.
        name: String,
        /// Description of the first.
        first: String,
        /// Description of the second.
        second: String,
    },
    /// A registered name that cannot serve as a name (it names run folders and config keys).
    #[error("strategy name '{0}' is not allowed: use lower-case letters, digits, '-' and '_'")]
    BadName(String),
    /// The strategy's configuration could not be read or is out of range.
    #[error("strategy '{strategy}': bad configuration: {reason}")]
    Config {
        /// The strategy.
        strategy: String,
        /// Why.
        reason: String,
    },
    /// A saved state could not be restored.
    #[error("strategy '{strategy}': cannot restore state: {reason}")]
    State {
        /// The strategy.
        strategy: String,
        /// Why.
        reason: String,
    },
    /// An architecture told back is not in the space, or the space is invalid.
    #[error("strategy '{strategy}': {source}")]
    Space {
        /// The strategy.
        strategy: String,
        /// The space's complaint.
        source: SpaceError,
    },
}

/// A running search strategy, as the registry hands it out: proposes architectures,
/// learns from their metrics, saves and restores its state.
///
/// Implement [`SearchStrategy`] instead of this trait: every `SearchStrategy` is one
/// through [`Running`].
pub trait Strategy: Send {
    /// The registered name.
    fn name(&self) -> &'static str;

    /// The next architecture to evaluate. May be called several times before the
    /// matching [`Strategy::tell`]s (for batches of parallel evaluations).
    fn ask(&mut self) -> Architecture;

    /// The metrics of an evaluated architecture (normally one this strategy asked for;
    /// any architecture of the space is accepted, others are an error).
    fn tell(&mut self, arch: &Architecture, metrics: &Metrics) -> Result<(), StrategyError>;

    /// The whole state, including random-generator state, as JSON.
    fn save(&self) -> Value;

    /// Replaces the state with one from [`Strategy::save`]; the strategy then continues
    /// exactly as the one that saved it would have.
    fn restore(&mut self, state: Value) -> Result<(), StrategyError>;

    /// The space searched.
    fn space(&self) -> &SearchSpace;

    /// How many of the first evaluations are random samples before the strategy uses
    /// what it learnt ([`SearchStrategy::random_start`]).
    fn random_start(&self) -> usize;
}

/// The seeded, serialisable random generator strategies use (its state saves with them).
pub type StrategyRng = rand_chacha::ChaCha8Rng;
