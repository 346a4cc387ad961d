//! Cost of one ask + tell per strategy on the default space (compare with one one-shot
//! evaluation in `cargo bench -p nas-core --bench supernet`).
//!
//! ```text
//! cargo bench -p nas-integration-tests --bench strategies
//! ```

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use nas_core::space::SearchSpace;
use nas_core::strategy;
use nas_integration_tests::{Synthetic, metrics};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn benches(c: &mut Criterion) {
    let space = SearchSpace::default();
    let obj = Synthetic::new(&space, 0, 12, 0.5);
    let mut group = c.benchmark_group("ask+tell");
    for e in strategy::registry().unwrap() {
        let mut s = strategy::build(e.name, &space, None, 0).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        // Past evolution's random warm-up, so its tournament path is measured.
        for _ in 0..200 {
            let a = s.ask();
            s.tell(&a, &metrics(obj.value(&a))).unwrap();
        }
        // The objective is computed outside the timed part.
        let value = obj.observe(&space.sample(&mut rng), &mut rng);
        group.bench_function(e.name, |b| {
            b.iter(|| {
                let a = s.ask();
                s.tell(&a, &metrics(value)).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(strategies, benches);
criterion_main!(strategies);
