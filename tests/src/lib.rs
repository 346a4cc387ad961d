//! Shared pieces of the cross-crate tests: every strategy crate linked in, the names that
//! must be registered, and a synthetic objective with a known optimum.

// Link every strategy crate: a crate nothing references is dropped by the linker and its
// registry entry with it.
use nas_strategy_evolution as _;
use nas_strategy_hill_climb as _;
use nas_strategy_random as _;
use nas_strategy_reinforce as _;

use nas_core::space::{Architecture, SearchSpace};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Every strategy these tests expect in the registry.
pub const EXPECTED: [&str; 4] = ["evolution", "hill-climb", "random", "reinforce"];

/// A synthetic objective over a space's decisions: a score per choice of every decision,
/// plus interaction terms between pairs of decisions, plus optional Gaussian noise.
pub struct Synthetic {
    space: SearchSpace,
    unary: Vec<Vec<f64>>,
    pairs: Vec<(usize, usize, Vec<Vec<f64>>)>,
    noise: f64,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box-Muller.
    let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

impl Synthetic {
    /// A random objective over `space` (fixed by `seed`), with `n_pairs` interacting
    /// decision pairs and observation noise of standard deviation `noise`.
    pub fn new(space: &SearchSpace, seed: u64, n_pairs: usize, noise: f64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = space.decisions();
        let unary = d
            .iter()
            .map(|x| (0..x.choices).map(|_| normal(&mut rng)).collect())
            .collect();
        let pairs = (0..n_pairs)
            .map(|_| {
                let a = rng.random_range(0..d.len());
                let b = (a + 1 + rng.random_range(0..d.len() - 1)) % d.len();
                let table = (0..d[a].choices)
                    .map(|_| (0..d[b].choices).map(|_| 0.5 * normal(&mut rng)).collect())
                    .collect();
                (a, b, table)
            })
            .collect();
        Synthetic {
            space: space.clone(),
            unary,
            pairs,
            noise,
        }
    }

    /// The noiseless value of `arch`.
    pub fn value(&self, arch: &Architecture) -> f64 {
        let c = self
            .space
            .to_decisions(arch)
            .expect("architecture of the space");
        let u: f64 = self.unary.iter().zip(&c).map(|(s, &i)| s[i]).sum();
        let p: f64 = self.pairs.iter().map(|(a, b, t)| t[c[*a]][c[*b]]).sum();
        u + p
    }

    /// A noisy observation of `arch`.
    pub fn observe(&self, arch: &Architecture, rng: &mut ChaCha8Rng) -> f64 {
        self.value(arch) + self.noise * normal(rng)
    }

    /// The best value reachable by choosing every decision's best unary score alone
    /// (an upper reference, ignoring the pairs).
    pub fn unary_optimum(&self) -> f64 {
        self.unary
            .iter()
            .map(|s| s.iter().cloned().fold(f64::MIN, f64::max))
            .sum()
    }
}

/// Metrics carrying `value` as the accuracy strategies maximise.
pub fn metrics(value: f64) -> nas_core::eval::Metrics {
    nas_core::eval::Metrics {
        accuracy: value,
        loss: 0.0,
        examples: 1,
    }
}
