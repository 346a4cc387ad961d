//! The typed strategy trait authors implement, and the one adapter that turns any of them
//! into the object-safe [`Strategy`] the registry stores.

use rand::SeedableRng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Strategy, StrategyError, StrategyRng};
use crate::search::Metrics;
use crate::space::{Architecture, SearchSpace};

/// A search strategy: its algorithm, with typed configuration and state.
///
/// `ask` and `tell` borrow the strategy immutably and the state mutably: whatever changes
/// during a search is in [`SearchStrategy::State`], so a saved state resumes the search
/// exactly. Register an implementation with [`crate::register_strategy!`].
pub trait SearchStrategy: Sized + Send + 'static {
    /// The registered name (lower-case letters, digits, `-`, `_`), e.g. `random`.
    const NAME: &'static str;
    /// One line on what it does.
    const DESCRIPTION: &'static str;
    /// Its settings. Deserialised from the user's table laid over `Config::default()`;
    /// mark it `#[serde(deny_unknown_fields)]` so typos are errors.
    type Config: Serialize + DeserializeOwned + Default;
    /// Everything that changes during a search, random generator included.
    type State: Serialize + DeserializeOwned + Send;

    /// The strategy for `space` with `config`; an out-of-range setting is an error whose
    /// text says what is wrong. `space` has been validated.
    fn new(space: &SearchSpace, config: Self::Config) -> Result<Self, String>;

    /// The state at the start of a search; `rng` is seeded from the search's seed.
    fn init(&self, rng: StrategyRng) -> Self::State;

    /// The next architecture to evaluate (it must belong to the space).
    fn ask(&self, state: &mut Self::State) -> Architecture;

    /// Learns from the metrics of `arch`, which the framework has checked belongs to the
    /// space (normally one this strategy asked for).
    fn tell(&self, state: &mut Self::State, arch: &Architecture, metrics: &Metrics);

    /// Checks a state read from a file before it replaces the current one (e.g. that
    /// its shapes fit the space). Accepts everything by default.
    fn check_state(&self, _state: &Self::State) -> Result<(), String> {
        Ok(())
    }

    /// How many of the first evaluations are random samples taken before the strategy
    /// uses what it has learnt (regularized evolution: its initial population). A search
    /// whose budget is not larger is random search under another name, and the harness
    /// warns. 0 (the default) for strategies that learn from the first evaluation, or
    /// never do.
    fn random_start(&self) -> usize {
        0
    }
}

/// A [`SearchStrategy`] with its space and current state: the object-safe [`Strategy`]
/// that the registry builds.
pub struct Running<S: SearchStrategy> {
    strategy: S,
    space: SearchSpace,
    state: S::State,
}

impl<S: SearchStrategy> Running<S> {
    /// Validates `space`, reads `config` (a JSON table laid over the defaults; `None`
    /// for the defaults) and starts a search with `seed`.
    pub fn new(
        space: &SearchSpace,
        config: Option<Value>,
        seed: u64,
    ) -> Result<Self, StrategyError> {
        space.validate().map_err(|source| StrategyError::Space {
            strategy: S::NAME.to_string(),
            source,
        })?;
        let config = typed_config::<S>(config)?;
        let strategy = S::new(space, config).map_err(|reason| StrategyError::Config {
            strategy: S::NAME.to_string(),
            reason,
        })?;
        let state = strategy.init(StrategyRng::seed_from_u64(seed));
        Ok(Running {
            strategy,
            space: space.clone(),
            state,
        })
    }

    /// The strategy.
    pub fn strategy(&self) -> &S {
        &self.strategy
    }

    /// Its current state.
    pub fn state(&self) -> &S::State {
        &self.state
    }
}

/// The default configuration of `S` as JSON.
pub(super) fn default_config<S: SearchStrategy>() -> Value {
    serde_json::to_value(S::Config::default()).unwrap_or(Value::Null)
}

/// `over` (a JSON table) laid over the defaults, then deserialised.
fn typed_config<S: SearchStrategy>(over: Option<Value>) -> Result<S::Config, StrategyError> {
    let bad = |reason: String| StrategyError::Config {
        strategy: S::NAME.to_string(),
        reason,
    };
    let mut cfg = default_config::<S>();
    match (over, &mut cfg) {
        (None, _) => {}
        (Some(Value::Object(over)), Value::Object(base)) => {
            for (k, v) in over {
                base.insert(k, v);
            }
        }
        (Some(Value::Object(over)), _) => cfg = Value::Object(over),
        (Some(other), _) => return Err(bad(format!("expected a table of settings, got {other}"))),
    }
    serde_json::from_value(cfg).map_err(|e| bad(e.to_string()))
}

/// Saved state: the strategy's name with its state, so a state is never restored into
/// another strategy.
#[derive(Serialize, serde::Deserialize)]
struct Saved {
    strategy: String,
    state: Value,
}

impl<S: SearchStrategy> Strategy for Running<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn ask(&mut self) -> Architecture {
        self.strategy.ask(&mut self.state)
    }

    fn tell(&mut self, arch: &Architecture, metrics: &Metrics) -> Result<(), StrategyError> {
        self.space
            .check(arch)
            .map_err(|source| StrategyError::Space {
                strategy: S::NAME.to_string(),
                source,
            })?;
        self.strategy.tell(&mut self.state, arch, metrics);
        Ok(())
    }

    fn save(&self) -> Value {
        // States are plain data (maps with string keys, numbers, vectors): they encode.
        let state = serde_json::to_value(&self.state).unwrap_or(Value::Null);
        serde_json::to_value(Saved {
            strategy: S::NAME.to_string(),
            state,
        })
        .unwrap_or(Value::Null)
    }

    fn restore(&mut self, saved: Value) -> Result<(), StrategyError> {
        let bad = |reason: String| StrategyError::State {
            strategy: S::NAME.to_string(),
            reason,
        };
        let saved: Saved = serde_json::from_value(saved)
            .map_err(|e| bad(format!("not a saved strategy state: {e}")))?;
        if saved.strategy != S::NAME {
            return Err(bad(format!(
                "the state was saved by strategy '{}'",
                saved.strategy
            )));
        }
        let state: S::State =
            serde_json::from_value(saved.state).map_err(|e| bad(e.to_string()))?;
        self.strategy.check_state(&state).map_err(bad)?;
        self.state = state;
        Ok(())
    }

    fn space(&self) -> &SearchSpace {
        &self.space
    }

    fn random_start(&self) -> usize {
        self.strategy.random_start()
    }
}
