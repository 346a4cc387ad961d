//! End to end: every registered strategy drives a search over a tiny trained supernet
//! through the `Evaluator` trait, as the harness will.

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use nas_core::data::DataConfig;
use nas_core::eval::{Evaluator, OneShotEvaluator};
use nas_core::ops::LayerConfig;
use nas_core::space::SearchSpace;
use nas_core::strategy;
use nas_core::supernet::Supernet;
use nas_core::train::{NoHook, OptimConfig, SupernetTrainConfig, train_supernet};
use nas_integration_tests::EXPECTED;

type Ad = Autodiff<Flex>;

#[test]
fn every_strategy_searches_a_trained_supernet() {
    let device = Default::default();
    let space = SearchSpace {
        stacks: 2,
        filters: 4,
        ..SearchSpace::default()
    };
    let data = DataConfig {
        train_limit: Some(256),
        validation_limit: Some(64),
        test_limit: Some(1),
        ..DataConfig::default()
    }
    .load()
    .unwrap();
    let cfg = SupernetTrainConfig {
        epochs: 1,
        batch_size: 32,
        optim: OptimConfig {
            lr: 0.2,
            ..OptimConfig::default()
        },
        ..SupernetTrainConfig::default()
    };
    let supernet = Supernet::<Ad>::new(&space, &LayerConfig::new(), 0, &device).unwrap();
    let (supernet, report) = train_supernet(supernet, &data.train, &cfg, &mut NoHook).unwrap();
    assert_eq!(report.steps, 8);
    let mut evaluator =
        OneShotEvaluator::new(supernet.valid(), data.validation, 64, device).unwrap();
    let evaluator: &mut dyn Evaluator = &mut evaluator;
    let mut searched = Vec::new();
    for entry in strategy::registry().unwrap() {
        let mut s = strategy::build(entry.name, &space, None, 1).unwrap();
        let mut best = f64::MIN;
        for _ in 0..6 {
            let arch = s.ask();
            let m = evaluator.evaluate(&arch).unwrap();
            assert!((0.0..=1.0).contains(&m.accuracy) && m.examples == 64);
            s.tell(&arch, &m).unwrap();
            best = best.max(m.accuracy);
        }
        assert!(best > 0.0, "{}: best one-shot accuracy {best}", entry.name);
        searched.push(entry.name);
    }
    for name in EXPECTED {
        assert!(searched.contains(&name));
    }
}
