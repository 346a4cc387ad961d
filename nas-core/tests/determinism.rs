//! Same seed, same run: identical first training steps. Kept in its own test binary
//! because the backend's random generator is global, and tests running in parallel
//! threads of one process would draw from it in between.

use std::ops::ControlFlow;

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use nas_core::data::embedded_fashion_mnist;
use nas_core::ops::LayerConfig;
use nas_core::space::SearchSpace;
use nas_core::supernet::Supernet;
use nas_core::train::{
    Checkpoint, NoHook, Resume, StepInfo, SupernetTrainConfig, TrainError, TrainHook,
    resume_supernet, train_supernet,
};

type Ad = Autodiff<Flex>;

/// Tests in this binary take turns: they seed and draw from the backend's global generator.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Reads every trainable parameter value into one vector.
#[derive(Default)]
struct Flatten(Vec<f32>);
impl<B: Backend> ModuleVisitor<B> for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.extend(param.val().into_data().iter::<f32>());
    }
}

fn run_steps(seed: u64, steps: usize) -> (Vec<f64>, Vec<f32>) {
    run_steps_with(seed, steps, 4)
}

fn run_steps_with(seed: u64, steps: usize, filters: usize) -> (Vec<f64>, Vec<f32>) {
    let device = Default::default();
    let space = SearchSpace {
        stacks: 2,
        filters,
        ..SearchSpace::default()
    };
    let train = embedded_fashion_mnist().unwrap().0.head(64);
    let model = Supernet::<Ad>::new(&space, &LayerConfig::new(), seed, &device).unwrap();
    let cfg = SupernetTrainConfig {
        epochs: 1,
        batch_size: 16,
        seed,
        ..SupernetTrainConfig::default()
    };
    struct Stop(usize, Vec<f64>);
    impl<M> TrainHook<M> for Stop {
        fn on_step(&mut self, info: &StepInfo) -> ControlFlow<()> {
            self.1
                .push(info.metrics.as_ref().expect("metrics every step").loss);
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
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (la, wa) = run_steps(5, 3);
    let (lb, wb) = run_steps(5, 3);
    assert_eq!(la, lb);
    assert_eq!(wa, wb);
    let (lc, _) = run_steps(6, 3);
    assert_ne!(la, lc);
}

/// The CPU backends run on every core; a machine with another number of cores must still
/// reproduce a run bit for bit.
#[test]
fn the_number_of_threads_does_not_change_results() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| run_steps_with(3, 2, 16))
    };
    let (l1, w1) = on(1);
    let (l3, w3) = on(3);
    assert_eq!(l1, l3);
    assert_eq!(w1, w3);
}

/// A 2-stack, F = 4 space, the first `images` training images, and `epochs` epochs of
/// batches of 16 with `seed`.
fn small_setup(
    images: usize,
    epochs: usize,
    seed: u64,
) -> (
    SearchSpace,
    nas_core::data::ImageDataset,
    SupernetTrainConfig,
) {
    let space = SearchSpace {
        stacks: 2,
        filters: 4,
        ..SearchSpace::default()
    };
    let train = embedded_fashion_mnist().unwrap().0.head(images);
    let cfg = SupernetTrainConfig {
        epochs,
        batch_size: 16,
        seed,
        ..SupernetTrainConfig::default()
    };
    (space, train, cfg)
}

/// A supernet of `space` with the initial weights of seed 11.
fn seeded_supernet(space: &SearchSpace, device: &burn::tensor::Device<Ad>) -> Supernet<Ad> {
    Supernet::<Ad>::new(space, &LayerConfig::new(), 11, device).unwrap()
}

/// Keeps the last checkpoint and stops after `stop_after` epochs, or (as a signal
/// would) after `stop_at_step` steps of the whole run.
struct Keep {
    stop_after: usize,
    stop_at_step: Option<usize>,
    steps: usize,
    saved: Option<(Vec<u8>, Resume)>,
}
impl Keep {
    fn new(stop_after: usize) -> Keep {
        Keep {
            stop_after,
            stop_at_step: None,
            steps: 0,
            saved: None,
        }
    }
}
impl<B: nas_core::backend::NasAutodiffBackend> TrainHook<Supernet<B>> for Keep {
    fn wants_checkpoint(&self) -> bool {
        true
    }
    fn on_step(&mut self, info: &StepInfo) -> ControlFlow<()> {
        self.steps = info.step + 1;
        ControlFlow::Continue(())
    }
    fn stop_requested(&mut self) -> bool {
        self.stop_at_step.is_some_and(|s| self.steps >= s)
    }
    fn on_checkpoint(&mut self, ck: Checkpoint<'_, Supernet<B>>) -> ControlFlow<()> {
        let model = NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
            .record(ck.model.clone().into_record(), ())
            .unwrap();
        let epochs_done = ck.epochs_done;
        self.saved = Some((
            model,
            Resume {
                epochs_done,
                optimizer: ck.optimizer,
                within_epoch: ck.within_epoch,
            },
        ));
        if epochs_done >= self.stop_after {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

#[test]
fn resumed_training_equals_uninterrupted_training() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let (space, train, cfg) = small_setup(48, 3, 3);
    let fresh = || seeded_supernet(&space, &device);
    let flat = |m: &Supernet<Ad>| {
        let mut f = Flatten::default();
        m.visit(&mut f);
        f.0
    };

    let mut all = Keep::new(usize::MAX);
    let (whole, report) = train_supernet(fresh(), &train, &cfg, &mut all).unwrap();
    assert_eq!(report.steps, 9);

    // Stop after the first epoch, rebuild the model from its saved bytes, resume.
    let mut first = Keep::new(1);
    let (_, report) = train_supernet(fresh(), &train, &cfg, &mut first).unwrap();
    assert!(report.stopped_early);
    let (bytes, resume) = first.saved.take().unwrap();
    assert_eq!(resume.epochs_done, 1);
    let record = NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
        .load(bytes, &device)
        .unwrap();
    let blank = Supernet::<Ad>::new(&space, &LayerConfig::new(), 999, &device).unwrap();
    let loaded = blank.load_record(record);
    let mut rest = Keep::new(usize::MAX);
    let (resumed, report) =
        resume_supernet(loaded, &train, &cfg, Some(&resume), &mut rest).unwrap();
    assert_eq!(report.steps, 9);
    assert_eq!(report.epochs.len(), 2);
    let (a, b) = (flat(&whole), flat(&resumed));
    assert_eq!(a.len(), b.len());
    let max = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(max == 0.0, "resumed weights differ by up to {max}");

    // A damaged optimizer state or an impossible epoch count is an error, not a panic.
    let bad = Resume {
        epochs_done: 1,
        optimizer: b"not a record".to_vec(),
        within_epoch: None,
    };
    let err = resume_supernet(fresh(), &train, &cfg, Some(&bad), &mut NoHook).unwrap_err();
    assert!(err.to_string().contains("optimizer state"), "{err}");
    let late = Resume {
        epochs_done: 4,
        optimizer: Vec::new(),
        within_epoch: None,
    };
    let err = resume_supernet(fresh(), &train, &cfg, Some(&late), &mut NoHook).unwrap_err();
    assert!(err.to_string().contains("epoch 4 of a run of 3"), "{err}");
}

/// Stops the run of `cfg` after `stop_at` steps as a signal would, passes the checkpoint
/// taken there through bytes and JSON, resumes it into a differently initialised model,
/// and returns the resumed run's weights and report, and the checkpoint.
fn stopped_and_resumed(
    space: &SearchSpace,
    train: &nas_core::data::ImageDataset,
    cfg: &SupernetTrainConfig,
    stop_at: usize,
) -> (Vec<f32>, nas_core::train::TrainReport, Resume) {
    let device = Default::default();
    let mut hook = Keep::new(usize::MAX);
    hook.stop_at_step = Some(stop_at);
    let (_, report) =
        train_supernet(seeded_supernet(space, &device), train, cfg, &mut hook).unwrap();
    assert!(report.stopped_early);
    assert_eq!(report.steps, stop_at);
    let (bytes, mut resume) = hook.saved.take().expect("a checkpoint at the stop");
    // What a harness writes to disk and reads back.
    let json = serde_json::to_string(&resume.within_epoch).unwrap();
    resume.within_epoch = serde_json::from_str(&json).unwrap();
    let record = NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
        .load(bytes, &device)
        .unwrap();
    let blank = Supernet::<Ad>::new(space, &LayerConfig::new(), 999, &device).unwrap();
    let mut rest = Keep::new(usize::MAX);
    let (resumed, report) = resume_supernet(
        blank.load_record(record),
        train,
        cfg,
        Some(&resume),
        &mut rest,
    )
    .unwrap();
    let mut f = Flatten::default();
    resumed.visit(&mut f);
    (f.0, report, resume)
}

#[test]
fn a_run_stopped_inside_an_epoch_resumes_to_the_same_weights() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let (space, train, mut cfg) = small_setup(48, 3, 5);
    // Augmentation draws from the data stream inside the epoch, so its saved state matters.
    cfg.augment = nas_core::data::Augment {
        crop_padding: 2,
        horizontal_flip: true,
    };
    let mut all = Keep::new(usize::MAX);
    let (whole, whole_report) =
        train_supernet(seeded_supernet(&space, &device), &train, &cfg, &mut all).unwrap();
    assert_eq!(whole_report.steps, 9);
    let mut f = Flatten::default();
    whole.visit(&mut f);
    let whole = f.0;

    // 3 steps per epoch: inside the first epoch, inside the second, and at the end of the
    // second (a stop at an epoch's last step waits for the epoch's own checkpoint).
    for (stop_at, epochs_done, within) in [(2, 0, Some(2)), (4, 1, Some(1)), (6, 2, None)] {
        let (resumed, report, resume) = stopped_and_resumed(&space, &train, &cfg, stop_at);
        assert_eq!(resume.epochs_done, epochs_done, "stop at step {stop_at}");
        assert_eq!(
            resume.within_epoch.as_ref().map(|w| w.steps_done),
            within,
            "stop at step {stop_at}"
        );
        assert_eq!(report.steps, 9);
        // The epoch the stop fell in is reported whole, with the uninterrupted figures.
        assert_eq!(
            report.epochs,
            whole_report.epochs[epochs_done..],
            "stop at step {stop_at}"
        );
        assert_eq!(resumed.len(), whole.len());
        let differ = whole
            .iter()
            .zip(&resumed)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(differ, 0, "stop at step {stop_at}: resumed weights differ");
    }

    // A checkpoint that claims as many steps as the epoch has is refused.
    let (_, _, mut resume) = stopped_and_resumed(&space, &train, &cfg, 2);
    if let Some(w) = resume.within_epoch.as_mut() {
        w.steps_done = 3;
    }
    let fresh = seeded_supernet(&space, &device);
    let err = resume_supernet(fresh, &train, &cfg, Some(&resume), &mut NoHook).unwrap_err();
    assert!(
        err.to_string().contains("3 steps into epoch 1 of 3"),
        "{err}"
    );
}

/// Records the metrics reports, asking for them every `every` steps.
struct Every {
    every: usize,
    reports: Vec<(usize, nas_core::train::StepMetrics)>,
    epochs: Vec<nas_core::train::EpochInfo>,
}
impl<M> TrainHook<M> for Every {
    fn metrics_every(&self) -> usize {
        self.every
    }
    fn on_step(&mut self, info: &StepInfo) -> ControlFlow<()> {
        if let Some(m) = &info.metrics {
            self.reports.push((info.step, m.clone()));
        }
        ControlFlow::Continue(())
    }
    fn on_epoch(&mut self, info: &nas_core::train::EpochInfo, _: &M) -> ControlFlow<()> {
        self.epochs.push(info.clone());
        ControlFlow::Continue(())
    }
}

#[test]
fn reading_metrics_less_often_changes_neither_training_nor_the_epoch_figures() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let (space, train, cfg) = small_setup(80, 2, 5);
    let run = |every: usize| {
        let model = Supernet::<Ad>::new(&space, &LayerConfig::new(), 21, &device).unwrap();
        let mut hook = Every {
            every,
            reports: Vec::new(),
            epochs: Vec::new(),
        };
        let (model, report) = train_supernet(model, &train, &cfg, &mut hook).unwrap();
        assert_eq!(report.steps, 10);
        let mut flat = Flatten::default();
        model.visit(&mut flat);
        (hook, flat.0)
    };
    let (each, w1) = run(1);
    let (third, w3) = run(3);
    assert_eq!(w1, w3, "the reading interval changed the weights");
    assert_eq!(each.epochs, third.epochs);
    // Every step reported once; with 3, steps 2 and 4 of each 5-step epoch (the epoch's
    // last step always reports), each the mean of the steps since the previous report.
    assert_eq!(each.reports.len(), 10);
    assert!(each.reports.iter().all(|(_, m)| m.steps == 1));
    let steps: Vec<usize> = third.reports.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, vec![2, 4, 7, 9]);
    for (step, m) in &third.reports {
        let covered: Vec<&nas_core::train::StepMetrics> = each
            .reports
            .iter()
            .filter(|(s, _)| *s <= *step && *s + m.steps > *step)
            .map(|(_, m)| m)
            .collect();
        assert_eq!(covered.len(), m.steps);
        let mean = |f: fn(&nas_core::train::StepMetrics) -> f64| {
            covered.iter().map(|m| f(m)).sum::<f64>() / m.steps as f64
        };
        assert!((m.loss - mean(|m| m.loss)).abs() < 1e-9, "step {step}");
        assert!((m.penalty - mean(|m| m.penalty)).abs() < 1e-9);
        assert!((m.accuracy - mean(|m| m.accuracy)).abs() < 1e-9);
        assert!(m.loss.is_finite() && m.loss > 0.0);
    }
    // The epoch's mean loss is the mean of its steps' losses.
    let first_epoch: f64 = each.reports[..5].iter().map(|(_, m)| m.loss).sum::<f64>() / 5.0;
    assert!((each.epochs[0].mean_loss - first_epoch).abs() < 1e-9);
}

#[test]
fn a_diverged_training_is_an_error_naming_where_and_checkpoints_nothing_of_it() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let (space, train, cfg) = small_setup(48, 3, 3);
    let fresh = || seeded_supernet(&space, &device);
    // A first good epoch, checkpointed.
    let mut first = Keep::new(1);
    let (_, _) = train_supernet(fresh(), &train, &cfg, &mut first).unwrap();
    let (bytes, resume) = first.saved.take().unwrap();
    let record = NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
        .load(bytes, &device)
        .unwrap();
    // One image with a NaN pixel: the step that sees it in epoch 2 (steps 4 to 6 of 9)
    // has a NaN loss.
    let mut poisoned = train.clone();
    poisoned.pixels[5] = f32::NAN;
    let mut rest = Keep::new(usize::MAX);
    let err = resume_supernet(
        fresh().load_record(record),
        &poisoned,
        &cfg,
        Some(&resume),
        &mut rest,
    )
    .unwrap_err();
    match &err {
        TrainError::Diverged {
            epoch: 2,
            epochs: 3,
            step,
            total_steps: 9,
            what,
        } => {
            assert!((4..=6).contains(step), "{err}");
            assert!(what.contains("NaN"), "{err}");
        }
        other => panic!("expected a divergence in epoch 2, got {other}"),
    }
    assert!(rest.saved.is_none(), "a checkpoint of the diverged epoch");
    assert!(err.to_string().contains("smaller learning rate"), "{err}");

    // From the start, with a learning rate far too large: caught at the same step however
    // rarely the hook reads the metrics, and nothing is saved.
    let wild = SupernetTrainConfig {
        optim: nas_core::train::OptimConfig {
            lr: 1e5,
            ..cfg.optim.clone()
        },
        ..cfg.clone()
    };
    let mut none = Keep::new(usize::MAX);
    let err = train_supernet(fresh(), &train, &wild, &mut none).unwrap_err();
    let TrainError::Diverged { epoch, step, .. } = err else {
        panic!("expected a divergence, got {err}");
    };
    // The last checkpoint is of an epoch before the one that diverged.
    let last = none.saved.as_ref().map_or(0, |(_, r)| r.epochs_done);
    assert!(
        last < epoch,
        "a checkpoint after epoch {last}, diverged in {epoch}"
    );
    let again = train_supernet(fresh(), &train, &wild, &mut NoHook).unwrap_err();
    assert!(
        matches!(again, TrainError::Diverged { epoch: e, step: s, .. } if (e, s) == (epoch, step)),
        "{again}, and with the other hook in epoch {epoch} at step {step}"
    );
}
