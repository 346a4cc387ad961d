//! Regularized (aging) evolution (Real et al. 2019; METHOD.md section 5): a population of
//! P architectures, initially random; each cycle samples S members, mutates the best of
//! them with the space's neighbour function, adds the child and removes the OLDEST
//! member. Registered as `evolution`.

use std::collections::VecDeque;

use nas_core::eval::Metrics;
use nas_core::space::{Architecture, SearchSpace};
use nas_core::strategy::{
    Strategy, StrategyEntry, StrategyError, StrategyRng, check_told, parse_config, parse_state,
    to_state,
};
use rand::SeedableRng;
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};

/// Settings of regularized evolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvolutionConfig {
    /// Population size P.
    pub population: usize,
    /// Tournament sample size S (at most P).
    pub sample: usize,
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        EvolutionConfig {
            population: 100,
            sample: 25,
        }
    }
}

/// A member of the population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The architecture.
    pub arch: Architecture,
    /// Its accuracy.
    pub accuracy: f64,
}

#[derive(Serialize, Deserialize)]
struct State {
    rng: StrategyRng,
    /// Oldest first.
    population: VecDeque<Member>,
    /// Random architectures asked so far to fill the initial population.
    initial_asked: usize,
}

/// Regularized evolution.
pub struct Evolution {
    space: SearchSpace,
    config: EvolutionConfig,
    state: State,
}

impl Evolution {
    /// Regularized evolution over `space`.
    pub fn new(
        space: &SearchSpace,
        config: EvolutionConfig,
        seed: u64,
    ) -> Result<Self, StrategyError> {
        if config.population == 0 || config.sample == 0 || config.sample > config.population {
            return Err(StrategyError::Config {
                strategy: "evolution".into(),
                reason: format!(
                    "need 1 <= sample <= population (sample {}, population {})",
                    config.sample, config.population
                ),
            });
        }
        Ok(Evolution {
            space: space.clone(),
            config,
            state: State {
                rng: StrategyRng::seed_from_u64(seed),
                population: VecDeque::new(),
                initial_asked: 0,
            },
        })
    }

    /// The current population, oldest first.
    pub fn population(&self) -> impl Iterator<Item = &Member> {
        self.state.population.iter()
    }
}

impl Strategy for Evolution {
    fn name(&self) -> &'static str {
        "evolution"
    }

    fn ask(&mut self) -> Architecture {
        let s = &mut self.state;
        if s.initial_asked < self.config.population || s.population.is_empty() {
            s.initial_asked += 1;
            return self.space.sample(&mut s.rng);
        }
        let k = self.config.sample.min(s.population.len());
        let parent = sample(&mut s.rng, s.population.len(), k)
            .into_iter()
            .map(|i| &s.population[i])
            .max_by(|a, b| a.accuracy.total_cmp(&b.accuracy))
            .map(|m| m.arch.clone())
            .unwrap_or_else(|| self.space.sample(&mut s.rng));
        self.space.mutate(&parent, &mut s.rng)
    }

    fn tell(&mut self, arch: &Architecture, metrics: &Metrics) -> Result<(), StrategyError> {
        check_told(self.name(), &self.space, arch)?;
        self.state.population.push_back(Member {
            arch: arch.clone(),
            accuracy: metrics.accuracy,
        });
        while self.state.population.len() > self.config.population {
            self.state.population.pop_front(); // the oldest, not the worst
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
    Ok(Box::new(Evolution::new(
        space,
        parse_config("evolution", cfg)?,
        seed,
    )?))
}

inventory::submit! {
    StrategyEntry {
        name: "evolution",
        description: "regularized (aging) evolution: tournament, mutate the best, drop the oldest",
        default_config: || to_state(&EvolutionConfig::default()),
        build,
    }
}
