//! A minimal search strategy, used by the tests and by the guide "Writing a search
//! strategy" (docs/writing-a-strategy.md, whose code is this file's): start from a random
//! architecture, then always propose a mutation of the best one seen so far. Registered
//! as `hill-climb`.

use nas_core::search::Metrics;
use nas_core::space::{Architecture, SearchSpace};
use nas_core::strategy::{SearchStrategy, StrategyRng};
use serde::{Deserialize, Serialize};

/// Settings: when to try a random architecture instead of another mutation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HillClimbConfig {
    /// After this many proposals in a row without improvement, propose one random
    /// architecture (0: never).
    pub patience: usize,
}

/// Everything that changes during a search, so it can be saved and restored.
#[derive(Debug, Serialize, Deserialize)]
pub struct HillClimbState {
    rng: StrategyRng,
    best: Option<(Architecture, f64)>,
    since_improvement: usize,
}

/// Greedy hill climbing by mutation.
pub struct HillClimb {
    space: SearchSpace,
    config: HillClimbConfig,
}

impl SearchStrategy for HillClimb {
    const NAME: &'static str = "hill-climb";
    const DESCRIPTION: &'static str = "test-only: mutate the best architecture seen so far";
    type Config = HillClimbConfig;
    type State = HillClimbState;

    fn new(space: &SearchSpace, config: HillClimbConfig) -> Result<Self, String> {
        Ok(HillClimb {
            space: space.clone(),
            config,
        })
    }

    fn init(&self, rng: StrategyRng) -> HillClimbState {
        HillClimbState {
            rng,
            best: None,
            since_improvement: 0,
        }
    }

    fn ask(&self, s: &mut HillClimbState) -> Architecture {
        let patience = self.config.patience;
        match &s.best {
            Some(_) if patience > 0 && s.since_improvement >= patience => {
                s.since_improvement = 0;
                self.space.sample(&mut s.rng)
            }
            Some((arch, _)) => self.space.mutate(arch, &mut s.rng),
            None => self.space.sample(&mut s.rng),
        }
    }

    fn tell(&self, s: &mut HillClimbState, arch: &Architecture, metrics: &Metrics) {
        if s.best
            .as_ref()
            .is_none_or(|(_, acc)| metrics.accuracy > *acc)
        {
            s.best = Some((arch.clone(), metrics.accuracy));
            s.since_improvement = 0;
        } else {
            s.since_improvement += 1;
        }
    }
}

nas_core::register_strategy!(HillClimb);
