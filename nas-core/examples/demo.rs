//! A small end-to-end run of the method on the embedded Fashion-MNIST subset, on CPU:
//! train a supernet with scheduled path dropout and ghost batches, score random
//! architectures one-shot, retrain the best and a random one stand-alone, and compare.
//!
//! ```text
//! cargo run --release -p nas-core --example demo            # about 7 minutes on 2 cores
//! cargo run --release -p nas-core --example demo -- --quick # under 2 minutes
//! ```

use std::ops::ControlFlow;
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use nas_core::data::DataConfig;
use nas_core::eval::{Evaluator, OneShotEvaluator, predict_standalone};
use nas_core::ops::{LayerConfig, NormMode};
use nas_core::space::SearchSpace;
use nas_core::standalone::StandaloneModel;
use nas_core::stats::ModelStats;
use nas_core::supernet::Supernet;
use nas_core::train::{
    EpochInfo, OptimConfig, StandaloneTrainConfig, StepInfo, SupernetTrainConfig, TrainHook,
    train_standalone, train_supernet,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

type Cpu = Flex;
type Ad = Autodiff<Cpu>;

/// Prints a line every `every` steps and after each epoch.
struct Progress {
    every: usize,
    start: Instant,
}

impl<M> TrainHook<M> for Progress {
    fn on_step(&mut self, i: &StepInfo) -> ControlFlow<()> {
        if let Some(m) = &i.metrics {
            println!(
                "  step {:>4}/{}  loss {:.3} (mean of {} steps)  lr {:.4}  drop rate {:.3}  ({:.0}s)",
                i.step + 1,
                i.total_steps,
                m.loss,
                m.steps,
                i.lr,
                i.drop_rate,
                self.start.elapsed().as_secs_f64()
            );
        }
        ControlFlow::Continue(())
    }
    fn metrics_every(&self) -> usize {
        self.every
    }
    fn on_epoch(&mut self, i: &EpochInfo, _: &M) -> ControlFlow<()> {
        println!(
            "  epoch {}/{}: mean loss {:.3}, train accuracy {:.3}",
            i.epoch + 1,
            i.epochs,
            i.mean_loss,
            i.train_accuracy
        );
        ControlFlow::Continue(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n_train, n_val, n_test, epochs, candidates) = if quick {
        (512, 250, 500, 2, 10)
    } else {
        (2048, 500, 1000, 2, 30)
    };
    let seed = 0;
    let device = Default::default();

    let space = SearchSpace {
        filters: 8,
        ..SearchSpace::default()
    };
    println!("search space: {} architectures", space.size()?);

    // The embedded Fashion-MNIST subset: 10% of its training images are held out for
    // validation (one-shot scoring); every split is normalised with training statistics.
    let data = DataConfig {
        train_limit: Some(n_train),
        validation_limit: Some(n_val),
        test_limit: Some(n_test),
        ..DataConfig::default()
    }
    .load()?;
    let (train, val, test) = (data.train, data.validation, data.test);
    println!(
        "data: embedded Fashion-MNIST, {} train / {} validation / {} test images",
        train.len(),
        val.len(),
        test.len()
    );

    let layers = LayerConfig::new();
    let cfg = SupernetTrainConfig {
        epochs,
        seed,
        optim: OptimConfig {
            lr: 0.2,
            ..OptimConfig::default()
        },
        augment: data.augment,
        ..SupernetTrainConfig::default()
    };
    println!(
        "training the supernet: {} epochs, batch {} in {} ghost batches, r_max {}",
        cfg.epochs, cfg.batch_size, cfg.ghost_batches, cfg.drop_path.r_max
    );
    let start = Instant::now();
    let supernet = Supernet::<Ad>::new(&space, &layers, seed, &device)?;
    let (supernet, _) = train_supernet(supernet, &train, &cfg, &mut Progress { every: 20, start })?;

    println!("scoring {candidates} random architectures one-shot on the validation images");
    let mut eval = OneShotEvaluator::new(supernet.valid(), val, 250, device)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut scored = Vec::new();
    for _ in 0..candidates {
        let arch = space.sample(&mut rng);
        let m = eval.evaluate(&arch)?;
        scored.push((m.accuracy, arch));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let spread = (scored.last().map_or(0.0, |s| s.0), scored[0].0);
    println!(
        "one-shot accuracy range: {:.3} .. {:.3}",
        spread.0, spread.1
    );
    for (acc, arch) in scored.iter().take(3) {
        let s = ModelStats::of(&space, arch, &layers)?;
        println!("  {acc:.3}  {arch}  ({} params, {} MACs)", s.params, s.macs);
    }

    let retrain = StandaloneTrainConfig {
        epochs,
        seed,
        optim: OptimConfig {
            lr: 0.1,
            ..OptimConfig::default()
        },
        augment: data.augment,
        ..StandaloneTrainConfig::default()
    };
    let random = &scored[scored.len() / 2];
    for (label, (acc, arch)) in [("best", &scored[0]), ("median", random)] {
        println!("retraining the {label} architecture stand-alone (one-shot {acc:.3})");
        let model = StandaloneModel::<Ad>::new(&space, arch, &layers, 0, &device)?;
        let (model, _) =
            train_standalone(model, &train, &retrain, &mut Progress { every: 40, start })?;
        let p = predict_standalone(&model.valid(), &test, 250, NormMode::Running)?;
        println!("  {label}: test accuracy {:.3}", p.metrics().accuracy);
    }
    println!("done in {:.0}s", start.elapsed().as_secs_f64());
    Ok(())
}
