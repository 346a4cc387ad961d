//! Random search: uniform samples from the space (docs/method.md, section 5), optionally
//! without repeats. Registered as `random`.

use std::collections::HashSet;

use nas_core::search::Metrics;
use nas_core::space::{Architecture, SearchSpace};
use nas_core::strategy::{SearchStrategy, StrategyRng};
use serde::{Deserialize, Serialize};

/// Settings of random search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomConfig {
    /// Never ask the same architecture twice (while the space has unseen ones).
    pub no_repeats: bool,
}

/// What changes during a random search.
#[derive(Debug, Serialize, Deserialize)]
pub struct RandomState {
    rng: StrategyRng,
    seen: HashSet<Architecture>,
}

/// Uniform random search.
pub struct RandomSearch {
    space: SearchSpace,
    config: RandomConfig,
}

/// Tries before giving up on finding an unseen architecture (the space may be exhausted).
const MAX_TRIES: usize = 10_000;

impl SearchStrategy for RandomSearch {
    const NAME: &'static str = "random";
    const DESCRIPTION: &'static str = "uniform random samples (optionally without repeats)";
    type Config = RandomConfig;
    type State = RandomState;

    fn new(space: &SearchSpace, config: RandomConfig) -> Result<Self, String> {
        Ok(RandomSearch {
            space: space.clone(),
            config,
        })
    }

    fn init(&self, rng: StrategyRng) -> RandomState {
        RandomState {
            rng,
            seen: HashSet::new(),
        }
    }

    fn ask(&self, s: &mut RandomState) -> Architecture {
        let mut arch = self.space.sample(&mut s.rng);
        if self.config.no_repeats {
            for _ in 0..MAX_TRIES {
                if !s.seen.contains(&arch) {
                    break;
                }
                arch = self.space.sample(&mut s.rng);
            }
            s.seen.insert(arch.clone());
        }
        arch
    }

    fn tell(&self, s: &mut RandomState, arch: &Architecture, _metrics: &Metrics) {
        if self.config.no_repeats {
            s.seen.insert(arch.clone());
        }
    }
}

nas_core::register_strategy!(RandomSearch);
