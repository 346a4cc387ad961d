//! Search strategies: the ask/tell interface and the plug-in registry.
//!
//! A strategy proposes architectures ([`Strategy::ask`]) and learns from their metrics
//! ([`Strategy::tell`]). It sees only the [`SearchSpace`] and [`Metrics`]: it never
//! evaluates anything and depends on no burn backend. Its whole state serialises to JSON
//! ([`Strategy::save`] / [`Strategy::restore`]), so a search can stop and resume exactly.
//!
//! Strategies register themselves with [`inventory`]: a strategy crate submits one
//! [`StrategyEntry`]; [`registry`] lists them and [`build`] constructs one by name. A crate
//! that nothing references can be dropped by the linker, and its entry with it: every binary
//! must name each strategy crate it ships (`use nas_strategy_x as _;`), and tests check that
//! every expected name is registered.

use serde_json::Value;
use thiserror::Error;

use crate::eval::Metrics;
use crate::space::{Architecture, SearchSpace, SpaceError};

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
    /// The strategy's configuration could not be read.
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
    /// An architecture told back is not in the space.
    #[error("strategy '{strategy}': {source}")]
    Space {
        /// The strategy.
        strategy: String,
        /// The space's complaint.
        source: SpaceError,
    },
}

/// A search strategy: proposes architectures, learns from their metrics.
pub trait Strategy: Send {
    /// The registered name.
    fn name(&self) -> &'static str;

    /// The next architecture to evaluate. May be called several times before the
    /// matching [`Strategy::tell`]s (for batches of parallel evaluations).
    fn ask(&mut self) -> Architecture;

    /// The metrics of an evaluated architecture (normally one this strategy asked for;
    /// any architecture of the space is accepted).
    fn tell(&mut self, arch: &Architecture, metrics: &Metrics) -> Result<(), StrategyError>;

    /// The whole state, including random-generator state.
    fn save(&self) -> Value;

    /// Replaces the state with one from [`Strategy::save`]; the strategy then continues
    /// exactly as the one that saved it would have.
    fn restore(&mut self, state: Value) -> Result<(), StrategyError>;
}

/// Builds a strategy for a space from its configuration (JSON) and a seed.
pub type BuildFn = fn(&SearchSpace, Value, u64) -> Result<Box<dyn Strategy>, StrategyError>;

/// One registered strategy (submitted with `inventory::submit!` by its crate).
pub struct StrategyEntry {
    /// Unique name, e.g. `random`.
    pub name: &'static str,
    /// One line on what it does.
    pub description: &'static str,
    /// Its default configuration as JSON.
    pub default_config: fn() -> Value,
    /// Builds it for `space` from a configuration and a seed.
    pub build: BuildFn,
}

inventory::collect!(StrategyEntry);

/// Every strategy linked into this binary, sorted by name.
pub fn registry() -> Vec<&'static StrategyEntry> {
    let mut all: Vec<_> = inventory::iter::<StrategyEntry>.into_iter().collect();
    all.sort_by_key(|e| e.name);
    all
}

/// The entry named `name`, or an error listing the known names.
pub fn lookup(name: &str) -> Result<&'static StrategyEntry, StrategyError> {
    let all = registry();
    all.iter()
        .find(|e| e.name == name)
        .copied()
        .ok_or_else(|| StrategyError::Unknown {
            name: name.to_string(),
            known: all.iter().map(|e| e.name.to_string()).collect(),
        })
}

/// Builds strategy `name` for `space`: `config` (JSON object) overrides fields of its
/// default configuration; `None` takes the defaults.
pub fn build(
    name: &str,
    space: &SearchSpace,
    config: Option<Value>,
    seed: u64,
) -> Result<Box<dyn Strategy>, StrategyError> {
    let entry = lookup(name)?;
    let mut cfg = (entry.default_config)();
    if let Some(Value::Object(over)) = config {
        if let Value::Object(base) = &mut cfg {
            for (k, v) in over {
                base.insert(k, v);
            }
        }
    } else if let Some(other) = config {
        return Err(StrategyError::Config {
            strategy: name.to_string(),
            reason: format!("expected a table of settings, got {other}"),
        });
    }
    space.validate().map_err(|source| StrategyError::Space {
        strategy: name.to_string(),
        source,
    })?;
    (entry.build)(space, cfg, seed)
}

/// Reads a strategy's typed configuration from JSON (unknown keys are errors when the
/// type says `deny_unknown_fields`).
pub fn parse_config<T: serde::de::DeserializeOwned>(
    strategy: &str,
    cfg: Value,
) -> Result<T, StrategyError> {
    serde_json::from_value(cfg).map_err(|e| StrategyError::Config {
        strategy: strategy.to_string(),
        reason: e.to_string(),
    })
}

/// Restores a strategy's typed state from JSON.
pub fn parse_state<T: serde::de::DeserializeOwned>(
    strategy: &str,
    state: Value,
) -> Result<T, StrategyError> {
    serde_json::from_value(state).map_err(|e| StrategyError::State {
        strategy: strategy.to_string(),
        reason: e.to_string(),
    })
}

/// Checks that a told architecture belongs to `space`.
pub fn check_told(
    strategy: &str,
    space: &SearchSpace,
    arch: &Architecture,
) -> Result<(), StrategyError> {
    space.check(arch).map_err(|source| StrategyError::Space {
        strategy: strategy.to_string(),
        source,
    })
}

/// Serialises a state; states are plain data, so this cannot fail in practice.
pub fn to_state<T: serde::Serialize>(state: &T) -> Value {
    serde_json::to_value(state).unwrap_or(Value::Null)
}

/// The seeded, serialisable random generator strategies use (its state saves with them).
pub type StrategyRng = rand_chacha::ChaCha8Rng;
