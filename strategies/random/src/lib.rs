//! Random search: uniform samples from the space (METHOD.md section 5), optionally
//! without repeats. Registered as `random`.

use std::collections::HashSet;

use nas_core::eval::Metrics;
use nas_core::space::{Architecture, SearchSpace};
use nas_core::strategy::{
    Strategy, StrategyEntry, StrategyError, StrategyRng, check_told, parse_config, parse_state,
    to_state,
};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// Settings of random search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomConfig {
    /// Never ask the same architecture twice (while the space has unseen ones).
    pub no_repeats: bool,
}

#[derive(Serialize, Deserialize)]
struct State {
    rng: StrategyRng,
    seen: HashSet<Architecture>,
}

/// Uniform random search.
pub struct RandomSearch {
    space: SearchSpace,
    config: RandomConfig,
    state: State,
}

impl RandomSearch {
    /// Random search over `space`.
    pub fn new(space: &SearchSpace, config: RandomConfig, seed: u64) -> Self {
        RandomSearch {
            space: space.clone(),
            config,
            state: State {
                rng: StrategyRng::seed_from_u64(seed),
                seen: HashSet::new(),
            },
        }
    }
}

/// Tries before giving up on finding an unseen architecture (the space may be exhausted).
const MAX_TRIES: usize = 10_000;

impl Strategy for RandomSearch {
    fn name(&self) -> &'static str {
        "random"
    }

    fn ask(&mut self) -> Architecture {
        let mut arch = self.space.sample(&mut self.state.rng);
        if self.config.no_repeats {
            for _ in 0..MAX_TRIES {
                if !self.state.seen.contains(&arch) {
                    break;
                }
                arch = self.space.sample(&mut self.state.rng);
            }
            self.state.seen.insert(arch.clone());
        }
        arch
    }

    fn tell(&mut self, arch: &Architecture, _metrics: &Metrics) -> Result<(), StrategyError> {
        check_told(self.name(), &self.space, arch)?;
        if self.config.no_repeats {
            self.state.seen.insert(arch.clone());
        }
        Ok(())
    }

    fn save(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<(), StrategyError> {
        self.state = parse_state(self.name(), state)?;
        Ok(())
    }
}

fn build(
    space: &SearchSpace,
    cfg: serde_json::Value,
    seed: u64,
) -> Result<Box<dyn Strategy>, StrategyError> {
    Ok(Box::new(RandomSearch::new(
        space,
        parse_config("random", cfg)?,
        seed,
    )))
}

inventory::submit! {
    StrategyEntry {
        name: "random",
        description: "uniform random samples (optionally without repeats)",
        default_config: || to_state(&RandomConfig::default()),
        build,
    }
}
