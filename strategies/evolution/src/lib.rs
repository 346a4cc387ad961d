//! Regularized (aging) evolution (Real et al. 2019; docs/method.md, section 5): a
//! population of P architectures, initially random; each cycle samples S members, mutates
//! the best of them with the space's neighbour function, adds the child and removes the
//! OLDEST member. Registered as `evolution`.

use std::collections::VecDeque;

use nas_core::search::Metrics;
use nas_core::space::{Architecture, SearchSpace};
use nas_core::strategy::{SearchStrategy, StrategyRng};
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
        // Sized for budgets of a hundred or a few hundred evaluations (the default search
        // has 100): a fifth of the budget fills the population, the rest evolves. Real et
        // al. used 100 and 25 for budgets of thousands.
        EvolutionConfig {
            population: 20,
            sample: 5,
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

/// What changes during an evolution.
#[derive(Debug, Serialize, Deserialize)]
pub struct EvolutionState {
    rng: StrategyRng,
    /// Oldest first.
    population: VecDeque<Member>,
    /// Random architectures asked so far to fill the initial population.
    initial_asked: usize,
}

impl EvolutionState {
    /// The current population, oldest first.
    pub fn population(&self) -> impl Iterator<Item = &Member> {
        self.population.iter()
    }
}

/// Regularized evolution.
pub struct Evolution {
    space: SearchSpace,
    config: EvolutionConfig,
}

impl SearchStrategy for Evolution {
    const NAME: &'static str = "evolution";
    const DESCRIPTION: &'static str =
        "regularized (aging) evolution: tournament, mutate the best, drop the oldest";
    type Config = EvolutionConfig;
    type State = EvolutionState;

    fn new(space: &SearchSpace, config: EvolutionConfig) -> Result<Self, String> {
        if config.population == 0 || config.sample == 0 || config.sample > config.population {
            return Err(format!(
                "need 1 <= sample <= population (sample {}, population {})",
                config.sample, config.population
            ));
        }
        Ok(Evolution {
            space: space.clone(),
            config,
        })
    }

    fn init(&self, rng: StrategyRng) -> EvolutionState {
        EvolutionState {
            rng,
            population: VecDeque::new(),
            initial_asked: 0,
        }
    }

    fn ask(&self, s: &mut EvolutionState) -> Architecture {
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

    fn tell(&self, s: &mut EvolutionState, arch: &Architecture, metrics: &Metrics) {
        s.population.push_back(Member {
            arch: arch.clone(),
            accuracy: metrics.accuracy,
        });
        while s.population.len() > self.config.population {
            s.population.pop_front(); // the oldest, not the worst
        }
    }

    fn random_start(&self) -> usize {
        self.config.population
    }
}

nas_core::register_strategy!(Evolution);
