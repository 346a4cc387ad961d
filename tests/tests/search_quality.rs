//! Search quality on a synthetic objective with a known structure (no training):
//! per-decision scores plus pairwise interactions plus noise. Over 20 seeds at a fixed
//! budget, evolution and REINFORCE must reach a better mean best-found value than random.

use nas_core::space::SearchSpace;
use nas_core::strategy;
use nas_integration_tests::{Synthetic, metrics};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const SEEDS: u64 = 20;
const BUDGET: usize = 1000;
const CHECKPOINTS: [usize; 4] = [100, 250, 500, 1000];

/// Mean (over seeds) of the best noiseless value found after each checkpoint budget.
fn curve(name: &str, space: &SearchSpace) -> Vec<f64> {
    let mut sums = vec![0.0; CHECKPOINTS.len()];
    for seed in 0..SEEDS {
        let obj = Synthetic::new(space, 100 + seed, 12, 0.5);
        let mut s = strategy::build(name, space, None, seed).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut best = f64::MIN;
        let mut k = 0;
        for step in 1..=BUDGET {
            let a = s.ask();
            best = best.max(obj.value(&a));
            s.tell(&a, &metrics(obj.observe(&a, &mut rng))).unwrap();
            if step == CHECKPOINTS[k] {
                sums[k] += best;
                k += 1;
            }
        }
    }
    sums.into_iter().map(|s| s / SEEDS as f64).collect()
}

#[test]
fn evolution_and_reinforce_beat_random() {
    let space = SearchSpace::default();
    let random = curve("random", &space);
    let evolution = curve("evolution", &space);
    let reinforce = curve("reinforce", &space);
    eprintln!("mean best-so-far at budgets {CHECKPOINTS:?} over {SEEDS} seeds:");
    eprintln!("  random    {random:.2?}");
    eprintln!("  evolution {evolution:.2?}");
    eprintln!("  reinforce {reinforce:.2?}");
    let reference: f64 = (0..SEEDS)
        .map(|seed| Synthetic::new(&space, 100 + seed, 12, 0.5).unary_optimum())
        .sum::<f64>()
        / SEEDS as f64;
    eprintln!("  (mean of the best unary scores alone: {reference:.2})");
    let last = CHECKPOINTS.len() - 1;
    assert!(
        evolution[last] > random[last],
        "evolution {evolution:?} vs random {random:?}"
    );
    assert!(
        reinforce[last] > random[last],
        "reinforce {reinforce:?} vs random {random:?}"
    );
}
