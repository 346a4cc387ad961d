//! Same seed, same run: identical first training steps. Kept in its own test binary
//! because the backend's random generator is global, and tests running in parallel
//! threads of one process would draw from it in between.

use std::ops::ControlFlow;

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use nas_core::data::embedded_fashion_mnist;
use nas_core::ops::LayerConfig;
use nas_core::space::SearchSpace;
use nas_core::supernet::Supernet;
use nas_core::train::{StepInfo, SupernetTrainConfig, TrainHook, train_supernet};

type Ad = Autodiff<Flex>;

/// Reads every trainable parameter value into one vector.
#[derive(Default)]
struct Flatten(Vec<f32>);
impl<B: Backend> ModuleVisitor<B> for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.extend(param.val().into_data().iter::<f32>());
    }
}

fn run_steps(seed: u64, steps: usize) -> (Vec<f64>, Vec<f32>) {
    let device = Default::default();
    Ad::seed(&device, seed);
    let space = SearchSpace {
        stacks: 2,
        filters: 4,
        ..SearchSpace::default()
    };
    let train = embedded_fashion_mnist().unwrap().0.head(64);
    let model = Supernet::<Ad>::new(&space, &LayerConfig::new(), &device).unwrap();
    let cfg = SupernetTrainConfig {
        epochs: 1,
        batch_size: 16,
        seed,
        ..SupernetTrainConfig::default()
    };
    struct Stop(usize, Vec<f64>);
    impl<M> TrainHook<M> for Stop {
        fn on_step(&mut self, info: &StepInfo) -> ControlFlow<()> {
            self.1.push(info.loss);
            if self.1.len() >= self.0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    let mut stop = Stop(steps, Vec::new());
    let (model, report) = train_supernet(model, &train, &cfg, &mut stop).unwrap();
    assert!(report.stopped_early);
    let mut flat = Flatten::default();
    model.visit(&mut flat);
    (stop.1, flat.0)
}

#[test]
fn same_seed_gives_identical_first_steps() {
    let (la, wa) = run_steps(5, 3);
    let (lb, wb) = run_steps(5, 3);
    assert_eq!(la, lb);
    assert_eq!(wa, wb);
    let (lc, _) = run_steps(6, 3);
    assert_ne!(la, lc);
}
