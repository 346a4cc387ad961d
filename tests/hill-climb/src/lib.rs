//! A minimal search strategy, used by the tests and by the guide "Writing a search
//! strategy" (docs/writing-a-strategy.md): start from a random architecture, then always
//! propose a mutation of the best one seen so far. Registered as `hill-climb`.

use nas_core::eval::Metrics;
use nas_core::space::{Architecture, SearchSpace};
use nas_core::strategy::{
    Strategy, StrategyEntry, StrategyError, StrategyRng, check_told, parse_config, parse_state,
    to_state,
};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// Settings (none yet; an empty table keeps the config format uniform).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HillClimbConfig {}

/// Everything that changes during a search, so it can be saved and restored.
#[derive(Serialize, Deserialize)]
struct State {
    rng: StrategyRng,
    best: Option<(Architecture, f64)>,
}

/// Greedy hill climbing by mutation.
pub struct HillClimb {
    space: SearchSpace,
    state: State,
}

impl Strategy for HillClimb {
    fn name(&self) -> &'static str {
        "hill-climb"
    }

    fn ask(&mut self) -> Architecture {
        match &self.state.best {
            Some((arch, _)) => self.space.mutate(arch, &mut self.state.rng),
            None => self.space.sample(&mut self.state.rng),
        }
    }

    fn tell(&mut self, arch: &Architecture, metrics: &Metrics) -> Result<(), StrategyError> {
        check_told(self.name(), &self.space, arch)?;
        if self
            .state
            .best
            .as_ref()
            .is_none_or(|(_, acc)| metrics.accuracy > *acc)
        {
            self.state.best = Some((arch.clone(), metrics.accuracy));
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
    let _: HillClimbConfig = parse_config("hill-climb", cfg)?;
    Ok(Box::new(HillClimb {
        space: space.clone(),
        state: State {
            rng: StrategyRng::seed_from_u64(seed),
            best: None,
        },
    }))
}

inventory::submit! {
    StrategyEntry {
        name: "hill-climb",
        description: "test-only: mutate the best architecture seen so far",
        default_config: || to_state(&HillClimbConfig::default()),
        build,
    }
}
