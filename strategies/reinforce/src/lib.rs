//! REINFORCE over the space's discrete decisions (docs/method.md, section 5), TuNAS style: one
//! independent categorical distribution per decision, its logits kept as plain floats,
//! reward = one-shot validation accuracy, a moving-average baseline, Adam, and an optional
//! entropy bonus. Registered as `reinforce`.
//!
//! Every decision of the space (a block's input subset, its operation subset) is active in
//! every sample, so the log-probability of a sample sums over all decisions.

use nas_core::search::Metrics;
use nas_core::space::{Architecture, Decision, SearchSpace};
use nas_core::strategy::{SearchStrategy, StrategyRng};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Settings of REINFORCE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReinforceConfig {
    /// Adam learning rate on the logits.
    pub lr: f64,
    /// Momentum of the moving-average reward baseline.
    pub baseline_momentum: f64,
    /// Weight of the entropy bonus (0: none).
    pub entropy_weight: f64,
    /// Softmax temperature of the policy.
    pub temperature: f64,
    /// Adam's first-moment decay.
    pub beta1: f64,
    /// Adam's second-moment decay.
    pub beta2: f64,
}

impl Default for ReinforceConfig {
    fn default() -> Self {
        ReinforceConfig {
            lr: 0.05,
            baseline_momentum: 0.95,
            entropy_weight: 0.0,
            temperature: 1.0,
            beta1: 0.9,
            beta2: 0.999,
        }
    }
}

/// What changes during the search: the policy and the optimiser.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReinforceState {
    rng: StrategyRng,
    /// One logit vector per decision.
    logits: Vec<Vec<f64>>,
    adam_m: Vec<Vec<f64>>,
    adam_v: Vec<Vec<f64>>,
    steps: u64,
    baseline: Option<f64>,
}

/// REINFORCE with independent categorical decisions.
pub struct Reinforce {
    space: SearchSpace,
    decisions: Vec<Decision>,
    config: ReinforceConfig,
}

impl ReinforceState {
    /// The policy's probabilities for each decision at `temperature`.
    pub fn probabilities(&self, temperature: f64) -> Vec<Vec<f64>> {
        self.logits
            .iter()
            .map(|l| softmax(l, temperature))
            .collect()
    }
}

fn softmax(logits: &[f64], temperature: f64) -> Vec<f64> {
    let max = logits.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = logits
        .iter()
        .map(|l| ((l - max) / temperature).exp())
        .collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

impl SearchStrategy for Reinforce {
    const NAME: &'static str = "reinforce";
    const DESCRIPTION: &'static str =
        "REINFORCE on independent categorical decisions (moving-average baseline, Adam)";
    type Config = ReinforceConfig;
    type State = ReinforceState;

    fn new(space: &SearchSpace, config: ReinforceConfig) -> Result<Self, String> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(config.lr) || !positive(config.temperature) {
            return Err("lr and temperature must be positive".into());
        }
        if !(0.0..1.0).contains(&config.baseline_momentum)
            || !(0.0..1.0).contains(&config.beta1)
            || !(0.0..1.0).contains(&config.beta2)
        {
            return Err("baseline_momentum, beta1 and beta2 must be in [0, 1)".into());
        }
        if !(config.entropy_weight >= 0.0 && config.entropy_weight.is_finite()) {
            return Err("entropy_weight must be >= 0".into());
        }
        Ok(Reinforce {
            space: space.clone(),
            decisions: space.decisions(),
            config,
        })
    }

    /// The uniform policy.
    fn init(&self, rng: StrategyRng) -> ReinforceState {
        let zeros: Vec<Vec<f64>> = self
            .decisions
            .iter()
            .map(|d| vec![0.0; d.choices])
            .collect();
        ReinforceState {
            rng,
            logits: zeros.clone(),
            adam_m: zeros.clone(),
            adam_v: zeros,
            steps: 0,
            baseline: None,
        }
    }

    fn ask(&self, s: &mut ReinforceState) -> Architecture {
        let choices: Vec<usize> = s
            .probabilities(self.config.temperature)
            .iter()
            .map(|p| {
                let u: f64 = s.rng.random();
                let mut acc = 0.0;
                p.iter()
                    .position(|q| {
                        acc += q;
                        u < acc
                    })
                    .unwrap_or(p.len() - 1)
            })
            .collect();
        // Choices are in range by construction.
        self.space
            .from_decisions(&choices)
            .unwrap_or_else(|_| self.space.sample(&mut s.rng))
    }

    fn tell(&self, s: &mut ReinforceState, arch: &Architecture, metrics: &Metrics) {
        // The framework checked that `arch` is in the space, so it has a decision vector.
        let Ok(choices) = self.space.to_decisions(arch) else {
            return;
        };
        let reward = metrics.accuracy;
        let baseline = s.baseline.unwrap_or(reward);
        let advantage = reward - baseline;
        let t = self.config.temperature;
        let probs = s.probabilities(t);
        s.steps += 1;
        let (b1, b2) = (self.config.beta1, self.config.beta2);
        let step = s.steps as i32;
        for (d, (p, &a)) in probs.iter().zip(&choices).enumerate() {
            let entropy: f64 = -p.iter().map(|q| q * q.max(1e-300).ln()).sum::<f64>();
            for (j, &pj) in p.iter().enumerate() {
                // d log pi(a) / d z_j = (1[j = a] - p_j) / T
                let logp_grad = (f64::from(u8::from(j == a)) - pj) / t;
                // d H / d z_j = -p_j (log p_j + H) / T
                let ent_grad = -pj * (pj.max(1e-300).ln() + entropy) / t;
                let g = advantage * logp_grad + self.config.entropy_weight * ent_grad;
                let m = &mut s.adam_m[d][j];
                let v = &mut s.adam_v[d][j];
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                let m_hat = *m / (1.0 - b1.powi(step));
                let v_hat = *v / (1.0 - b2.powi(step));
                // Gradient ascent on expected reward.
                s.logits[d][j] += self.config.lr * m_hat / (v_hat.sqrt() + 1e-8);
            }
        }
        let mom = self.config.baseline_momentum;
        s.baseline = Some(mom * baseline + (1.0 - mom) * reward);
    }

    fn check_state(&self, s: &ReinforceState) -> Result<(), String> {
        let fits = |v: &Vec<Vec<f64>>| {
            v.len() == self.decisions.len()
                && v.iter()
                    .zip(&self.decisions)
                    .all(|(l, d)| l.len() == d.choices)
        };
        if fits(&s.logits) && fits(&s.adam_m) && fits(&s.adam_v) {
            Ok(())
        } else {
            Err("the saved policy does not match this space's decisions".into())
        }
    }
}

nas_core::register_strategy!(Reinforce);
