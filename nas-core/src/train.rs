//! Training loops for the supernet and stand-alone models, with step and epoch hooks.
//!
//! Both use SGD with Nesterov momentum and a cosine learning-rate decay by default. The
//! supernet's L2 penalty covers only the paths active in each step, so the optimizer's
//! own weight decay is never used for it.

use std::ops::ControlFlow;

use crate::backend::{NasAutodiffBackend, NasBackend};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::{ElementConversion, Int, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::{Augment, HostBatch, ImageDataset, batch_indices};
use crate::network::{Network, Plan};
use crate::ops::NormMode;
use crate::standalone::StandaloneModel;
use crate::supernet::{DropPathConfig, Supernet};

/// A training run that cannot start.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TrainError {
    /// A setting is out of range.
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// The data do not fit the model.
    #[error("data do not fit the model: {0}")]
    Data(String),
    /// A saved training state cannot be resumed from.
    #[error("cannot resume training: {0}")]
    Resume(String),
    /// The loss, the L2 term or the weights stopped being finite. Nothing of the epoch
    /// it happened in reaches a hook's `on_epoch` or `on_checkpoint`, so the last
    /// checkpoint is the last good state.
    #[error(
        "training diverged in epoch {epoch} of {epochs}, at step {step} of {total_steps}: \
         {what} (try a smaller learning rate)"
    )]
    Diverged {
        /// Epoch, from 1.
        epoch: usize,
        /// Epochs in the run.
        epochs: usize,
        /// Step of the whole run, from 1 (the first step found not finite).
        step: usize,
        /// Steps in the run.
        total_steps: usize,
        /// What is not finite, e.g. `the loss is NaN`.
        what: String,
    },
}

/// Learning-rate schedule over the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// `lr * (1 + cos(pi * step / total)) / 2`.
    Cosine,
    /// `lr` throughout.
    Constant,
}

/// SGD settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Initial learning rate.
    pub lr: f64,
    /// Momentum (0 for plain SGD).
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Learning-rate schedule.
    pub schedule: LrSchedule,
    /// L2 weight: the penalty is `l2 / 2 * sum(w^2)` over convolution and linear weights
    /// (for the supernet, only those of the paths active in the step).
    pub l2: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            schedule: LrSchedule::Cosine,
            l2: 1e-4,
        }
    }
}

impl OptimConfig {
    /// The learning rate at `step` of `total`.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        match self.schedule {
            LrSchedule::Constant => self.lr,
            LrSchedule::Cosine => {
                let t = step as f64 / total.max(1) as f64;
                self.lr * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
            }
        }
    }

    fn validate(&self) -> Result<(), TrainError> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(TrainError::Config(format!(
                "lr = {}: must be positive",
                self.lr
            )));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(TrainError::Config(format!(
                "momentum = {}: must be in [0, 1)",
                self.momentum
            )));
        }
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return Err(TrainError::Config(format!(
                "l2 = {}: must be >= 0",
                self.l2
            )));
        }
        Ok(())
    }

    fn sgd(&self) -> SgdConfig {
        let momentum = (self.momentum > 0.0).then(|| {
            MomentumConfig::new()
                .with_momentum(self.momentum)
                .with_dampening(0.0)
                .with_nesterov(self.nesterov)
        });
        SgdConfig::new().with_momentum(momentum)
    }
}

/// Supernet training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupernetTrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Examples per step (split into `ghost_batches`).
    pub batch_size: usize,
    /// Ghost batches per step, each with its own dropout mask and normalisation statistics.
    pub ghost_batches: usize,
    /// Optimizer settings.
    pub optim: OptimConfig,
    /// Scheduled path dropout.
    pub drop_path: DropPathConfig,
    /// Augmentation of training batches (see [`crate::data::Splits::augment`]).
    pub augment: Augment,
    /// Seed of data order, augmentation and dropout masks.
    pub seed: u64,
}

impl SupernetTrainConfig {
    /// Checks every setting (the trainer does too, before the first step).
    pub fn validate(&self) -> Result<(), TrainError> {
        if self.ghost_batches == 0 || self.batch_size < self.ghost_batches {
            return Err(TrainError::Config(format!(
                "batch_size {} must be at least ghost_batches {} (and ghost_batches at least 1)",
                self.batch_size, self.ghost_batches
            )));
        }
        if !self.batch_size.is_multiple_of(self.ghost_batches) {
            return Err(TrainError::Config(format!(
                "batch_size {} does not split into {} ghost batches of equal size: use a \
                 multiple of ghost_batches (e.g. {})",
                self.batch_size,
                self.ghost_batches,
                self.batch_size / self.ghost_batches * self.ghost_batches
            )));
        }
        if !(0.0..=1.0).contains(&self.drop_path.r_max) {
            return Err(TrainError::Config(format!(
                "drop_path.r_max = {}: must be in [0, 1]",
                self.drop_path.r_max
            )));
        }
        check_loop(self.epochs, self.batch_size, &self.optim)
    }
}

/// Checks shared by both trainers.
fn check_loop(epochs: usize, batch_size: usize, optim: &OptimConfig) -> Result<(), TrainError> {
    optim.validate()?;
    if batch_size == 0 {
        return Err(TrainError::Config("batch_size must be at least 1".into()));
    }
    if epochs == 0 {
        return Err(TrainError::Config("epochs must be at least 1".into()));
    }
    Ok(())
}

impl StandaloneTrainConfig {
    /// Checks every setting (the trainer does too, before the first step).
    pub fn validate(&self) -> Result<(), TrainError> {
        check_loop(self.epochs, self.batch_size, &self.optim)
    }
}

impl Default for SupernetTrainConfig {
    fn default() -> Self {
        SupernetTrainConfig {
            epochs: 5,
            batch_size: 64,
            ghost_batches: 2,
            optim: OptimConfig::default(),
            drop_path: DropPathConfig::default(),
            augment: Augment::default(),
            seed: 0,
        }
    }
}

/// Stand-alone training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StandaloneTrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// Optimizer settings.
    pub optim: OptimConfig,
    /// Augmentation of training batches.
    pub augment: Augment,
    /// Seed of data order and augmentation.
    pub seed: u64,
}

impl Default for StandaloneTrainConfig {
    fn default() -> Self {
        StandaloneTrainConfig {
            epochs: 5,
            batch_size: 64,
            optim: OptimConfig::default(),
            augment: Augment::default(),
            seed: 0,
        }
    }
}

/// Reported after each step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepInfo {
    /// Step index from 0.
    pub step: usize,
    /// Steps in the whole run.
    pub total_steps: usize,
    /// Epoch index from 0.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Path-dropout rate used (0 for stand-alone training).
    pub drop_rate: f64,
    /// Loss, penalty and accuracy of the steps since the previous report. Present every
    /// [`TrainHook::metrics_every`] steps and on the last step of each epoch: reading
    /// them from the device waits for the step to finish, which a GPU should do rarely.
    pub metrics: Option<StepMetrics>,
}

/// Loss, penalty and accuracy over the steps since the previous report, read from the
/// device in one transfer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepMetrics {
    /// Steps covered, ending with the one reported.
    pub steps: usize,
    /// Mean cross-entropy over those steps (with `steps` = 1, that step's loss).
    pub loss: f64,
    /// Mean L2 penalty over those steps.
    pub penalty: f64,
    /// Training accuracy over their examples (under the masks used in training).
    pub accuracy: f64,
}

/// Reported after each epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochInfo {
    /// Epoch index from 0.
    pub epoch: usize,
    /// Epochs in the run.
    pub epochs: usize,
    /// Mean cross-entropy over the epoch's steps.
    pub mean_loss: f64,
    /// Training accuracy over the epoch (under the masks used in training).
    pub train_accuracy: f64,
}

/// Called during training; the harness uses it for progress bars and checkpoints.
/// Returning `ControlFlow::Break(())` stops training after the current step or epoch.
pub trait TrainHook<M> {
    /// After every optimisation step.
    fn on_step(&mut self, _info: &StepInfo) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// Every how many steps [`StepInfo::metrics`] is filled in (at least 1; the last step
    /// of each epoch always has it). Each report is one read from the device, so on a GPU
    /// a hook that shows progress asks for it every few steps, not every step. The
    /// choice never changes training, only how often the numbers are read.
    fn metrics_every(&self) -> usize {
        1
    }
    /// After every epoch, with the model as it is then.
    fn on_epoch(&mut self, _info: &EpochInfo, _model: &M) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// Whether [`TrainHook::on_checkpoint`] should be called (encoding the optimizer
    /// state costs a copy of the momentum buffers, so it is opt-in).
    fn wants_checkpoint(&self) -> bool {
        false
    }
    /// After every epoch (after `on_epoch`), when `wants_checkpoint` is true; and inside
    /// an epoch when [`TrainHook::stop_requested`] stops the run there.
    fn on_checkpoint(&mut self, _checkpoint: Checkpoint<'_, M>) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// Asked after every step (after `on_step`) and after every epoch's checkpoint: `true`
    /// stops the run there. Inside an epoch, a hook that wants checkpoints first gets one
    /// taken at that step ([`Checkpoint::within_epoch`]), from which [`Resume`] takes the
    /// rest of the run's steps exactly as an uninterrupted run would. For a signal
    /// (Ctrl-C, a cluster's time limit): the run loses at most the step in flight.
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// The state of a run after a completed epoch (or, with `within_epoch`, after some steps of
/// the next one), enough to resume it exactly.
#[derive(Debug)]
pub struct Checkpoint<'a, M> {
    /// Epochs completed so far (counting those before a resume).
    pub epochs_done: usize,
    /// The model after the last step taken.
    pub model: &'a M,
    /// The optimizer state (momentum buffers), encoded with burn's named MessagePack
    /// recorder at full precision; pass it back in [`Resume::optimizer`].
    pub optimizer: Vec<u8>,
    /// Set when the run stopped inside epoch `epochs_done + 1` (see
    /// [`TrainHook::stop_requested`]): how far into it, and the state of its random
    /// streams; pass it back in [`Resume::within_epoch`].
    pub within_epoch: Option<WithinEpoch>,
}

/// How far into an epoch a run stopped: the steps taken, the epoch's random streams as
/// they were after them, and the epoch's running sums (so its [`EpochInfo`] comes out as
/// an uninterrupted run's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithinEpoch {
    /// Steps of the epoch already taken (at least 1, fewer than the epoch has).
    pub steps_done: usize,
    /// The data stream (order and augmentation) after building those steps' batches.
    pub data_rng: ChaCha12Rng,
    /// The path-dropout mask stream after those steps.
    pub mask_rng: ChaCha12Rng,
    /// Sum of those steps' losses.
    pub loss_sum: f64,
    /// Correct training predictions in those steps.
    pub correct_sum: f64,
    /// Training examples in those steps.
    pub examples: usize,
}

/// Where a resumed run starts: the model passed to the trainer is the one saved after
/// `epochs_done` epochs (and `within_epoch` steps into the next), and `optimizer` is the
/// [`Checkpoint::optimizer`] saved with it. Each epoch draws its data order, augmentation
/// and masks from generators seeded by `(seed, epoch)`, so a resumed run takes exactly
/// the steps of an uninterrupted one.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// Epochs already completed.
    pub epochs_done: usize,
    /// Encoded optimizer state.
    pub optimizer: Vec<u8>,
    /// Where inside the next epoch the checkpoint was taken ([`Checkpoint::within_epoch`]).
    pub within_epoch: Option<WithinEpoch>,
}

/// Checkpoints of training state hand out the optimizer state in this encoding.
type StateRecorder = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// The random streams of one training run. Data (order and augmentation) and path-dropout
/// masks draw from separate generators, so the batches can be built ahead on another
/// thread, and runs that differ only in their dropout schedule see the same batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Data = 0,
    Masks = 1,
}

/// The generator of `stream` in epoch `epoch` of a run seeded with `seed`.
/// (ChaCha12: the generator behind `rand`'s `StdRng`, whose state can be saved.)
fn epoch_rng(seed: u64, stream: Stream, epoch: usize) -> ChaCha12Rng {
    // splitmix64 of the triple, so neighbouring seeds, streams and epochs give unrelated
    // streams.
    let mut z = seed
        ^ (epoch as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (stream as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha12Rng::seed_from_u64(z ^ (z >> 31))
}

/// A hook that does nothing (and reads the step metrics only once per epoch).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHook;
impl<M> TrainHook<M> for NoHook {
    fn metrics_every(&self) -> usize {
        usize::MAX
    }
}

/// What a training run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    /// Steps completed in the whole run, counting those before a resume.
    pub steps: usize,
    /// One entry per completed epoch.
    pub epochs: Vec<EpochInfo>,
    /// Whether a hook stopped the run early.
    pub stopped_early: bool,
}

fn check_data(
    data: &ImageDataset,
    shape: [usize; 3],
    classes: usize,
    batch: usize,
) -> Result<(), TrainError> {
    data.check_fits(shape, classes)
        .map_err(|e| TrainError::Data(e.problem))?;
    if data.len() < batch {
        return Err(TrainError::Data(format!(
            "{} training images, fewer than one batch of {batch}",
            data.len()
        )));
    }
    Ok(())
}

/// The number of correct predictions, as a one-element tensor left on the device.
fn correct<B: burn::tensor::backend::Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
) -> Tensor<B, 1> {
    let pred = logits.argmax(1).flatten::<1>(0, 1);
    pred.equal(labels).float().sum()
}

/// Trains a supernet: each step samples one path-dropout mask per ghost batch at the
/// scheduled rate, and adds the L2 penalty of the active paths to the cross-entropy.
pub fn train_supernet<B: NasAutodiffBackend>(
    model: Supernet<B>,
    data: &ImageDataset,
    cfg: &SupernetTrainConfig,
    hook: &mut impl TrainHook<Supernet<B>>,
) -> Result<(Supernet<B>, TrainReport), TrainError> {
    resume_supernet(model, data, cfg, None, hook)
}

/// [`train_supernet`] continuing from a [`Resume`] point (or from the start with `None`).
pub fn resume_supernet<B: NasAutodiffBackend>(
    model: Supernet<B>,
    data: &ImageDataset,
    cfg: &SupernetTrainConfig,
    resume: Option<&Resume>,
    hook: &mut impl TrainHook<Supernet<B>>,
) -> Result<(Supernet<B>, TrainReport), TrainError> {
    cfg.validate()?;
    let space = model.space.clone();
    let run = Run {
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        optim: &cfg.optim,
        augment: cfg.augment,
        seed: cfg.seed,
        input_shape: space.input_shape,
        classes: space.classes,
    };
    run.fit(model, data, resume, hook, |model, x, step, total, rng| {
        let rate = cfg.drop_path.rate(step, total);
        let plan = cfg
            .drop_path
            .sample_plan(&space, rate, cfg.ghost_batches, rng);
        let logits = model.forward(x, &plan);
        (logits, plan, rate)
    })
}

/// Trains a stand-alone model from its current weights with ordinary batch
/// normalisation (batch statistics, running averages updated).
pub fn train_standalone<B: NasAutodiffBackend>(
    model: StandaloneModel<B>,
    data: &ImageDataset,
    cfg: &StandaloneTrainConfig,
    hook: &mut impl TrainHook<StandaloneModel<B>>,
) -> Result<(StandaloneModel<B>, TrainReport), TrainError> {
    resume_standalone(model, data, cfg, None, hook)
}

/// [`train_standalone`] continuing from a [`Resume`] point (or from the start with `None`).
pub fn resume_standalone<B: NasAutodiffBackend>(
    model: StandaloneModel<B>,
    data: &ImageDataset,
    cfg: &StandaloneTrainConfig,
    resume: Option<&Resume>,
    hook: &mut impl TrainHook<StandaloneModel<B>>,
) -> Result<(StandaloneModel<B>, TrainReport), TrainError> {
    cfg.validate()?;
    let plan = Plan::architecture(&model.space, &model.architecture);
    let run = Run {
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        optim: &cfg.optim,
        augment: cfg.augment,
        seed: cfg.seed,
        input_shape: model.space.input_shape,
        classes: model.space.classes,
    };
    run.fit(model, data, resume, hook, |model, x, _, _, _| {
        let logits = model.forward(x, NormMode::BatchUpdateRunning);
        (logits, plan.clone(), 0.0)
    })
}

/// Running sums of an epoch's step metrics, in host memory.
#[derive(Debug, Default)]
struct EpochSums {
    loss: f64,
    correct: f64,
    examples: usize,
}

impl EpochSums {
    /// Reads the pending per-step `[loss, penalty, correct]` in one transfer, adds them to
    /// the epoch's sums (step after step, so the sums do not depend on how often this
    /// runs) and returns their means.
    ///
    /// A step whose loss or L2 term is not finite is an error: `(i, what)`, `i` counting
    /// from the first pending step.
    fn read<B: burn::tensor::backend::Backend>(
        &mut self,
        pending: &mut Vec<Tensor<B, 1>>,
        batch_size: usize,
    ) -> Result<StepMetrics, (usize, String)> {
        let steps = pending.len();
        let values = Tensor::cat(std::mem::take(pending), 0).into_data();
        let values: Vec<f64> = values.iter::<f64>().collect();
        for (i, v) in values.chunks_exact(3).enumerate() {
            for (x, name) in [(v[0], "loss"), (v[1], "L2 term")] {
                if !x.is_finite() {
                    return Err((i, format!("the {name} is {x}")));
                }
            }
        }
        let (mut loss, mut penalty, mut correct) = (0.0, 0.0, 0.0);
        for v in values.chunks_exact(3) {
            self.loss += v[0];
            loss += v[0];
            penalty += v[1];
            correct += v[2];
        }
        self.correct += correct;
        self.examples += steps * batch_size;
        let n = steps.max(1) as f64;
        Ok(StepMetrics {
            steps,
            loss: loss / n,
            penalty: penalty / n,
            accuracy: correct / (steps * batch_size).max(1) as f64,
        })
    }
}

/// Sums `|w|` over every float parameter of a module on the device: not finite when
/// some weight is not (one read for the whole model).
struct WeightSum<B: burn::tensor::backend::Backend> {
    sum: Option<Tensor<B, 1>>,
}

impl<B: burn::tensor::backend::Backend> ModuleVisitor<B> for WeightSum<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let s = param.val().abs().sum();
        self.sum = Some(match self.sum.take() {
            Some(t) => t + s,
            None => s,
        });
    }
}

/// Whether every weight of `model` is finite.
fn weights_finite<B: NasAutodiffBackend, M: AutodiffModule<B>>(model: &M) -> bool {
    let mut v = WeightSum { sum: None };
    model.valid().visit(&mut v);
    v.sum
        .is_none_or(|t| t.into_scalar().elem::<f64>().is_finite())
}

/// How a pass over one epoch's batches ended.
enum EpochEnd {
    /// Every batch done.
    Done,
    /// A hook asked to stop.
    Stopped,
    /// A step's loss or L2 term was not finite (at this step of the run, from 0).
    Diverged(usize, String),
    /// A hook asked to stop inside the epoch ([`TrainHook::stop_requested`]).
    Interrupted(Box<WithinEpoch>),
}

/// A model [`Run::fit`] trains: its network, whose active weights the L2 penalty covers.
trait Trainee<B: NasBackend> {
    fn network(&self) -> &Network<B>;
}

impl<B: NasBackend> Trainee<B> for Supernet<B> {
    fn network(&self) -> &Network<B> {
        &self.net
    }
}

impl<B: NasBackend> Trainee<B> for StandaloneModel<B> {
    fn network(&self) -> &Network<B> {
        &self.net
    }
}

/// The settings one training loop needs, whatever the model.
struct Run<'a> {
    epochs: usize,
    batch_size: usize,
    optim: &'a OptimConfig,
    augment: Augment,
    seed: u64,
    input_shape: [usize; 3],
    classes: usize,
}

impl Run<'_> {
    /// The loop shared by both trainers. `forward(model, x, step, total, rng)` returns the
    /// logits, the plan whose active weights the L2 penalty covers, and the path-dropout
    /// rate of the step. The penalty is applied as its gradient
    /// ([`Network::apply_l2_gradient`]), not through the autodiff graph.
    fn fit<B, M, F>(
        &self,
        mut model: M,
        data: &ImageDataset,
        resume: Option<&Resume>,
        hook: &mut impl TrainHook<M>,
        mut forward: F,
    ) -> Result<(M, TrainReport), TrainError>
    where
        B: NasAutodiffBackend,
        M: AutodiffModule<B> + Trainee<B>,
        F: FnMut(&M, Tensor<B, 4>, usize, usize, &mut ChaCha12Rng) -> (Tensor<B, 2>, Plan, f64),
    {
        self.optim.validate()?;
        if self.batch_size == 0 {
            return Err(TrainError::Config("batch_size must be at least 1".into()));
        }
        check_data(data, self.input_shape, self.classes, self.batch_size)?;
        let device = model
            .devices()
            .first()
            .cloned()
            .ok_or_else(|| TrainError::Config("the model has no parameters".into()))?;
        let steps_per_epoch = data.len() / self.batch_size;
        let total = steps_per_epoch * self.epochs;
        let mut optim = self.optim.sgd().init::<B, M>();
        let mut first_epoch = 0;
        if let Some(resume) = resume {
            if resume.epochs_done > self.epochs {
                return Err(TrainError::Resume(format!(
                    "the checkpoint is after epoch {} of a run of {} epochs",
                    resume.epochs_done, self.epochs
                )));
            }
            if resume.epochs_done > 0 || resume.within_epoch.is_some() {
                let record = StateRecorder::new()
                    .load(resume.optimizer.clone(), &device)
                    .map_err(|e| TrainError::Resume(format!("optimizer state: {e}")))?;
                optim = optim.load_record(record);
            }
            first_epoch = resume.epochs_done;
            if let Some(w) = &resume.within_epoch
                && (w.steps_done == 0
                    || w.steps_done >= steps_per_epoch
                    || first_epoch >= self.epochs)
            {
                return Err(TrainError::Resume(format!(
                    "the checkpoint is {} steps into epoch {} of {}, which has {steps_per_epoch} steps",
                    w.steps_done,
                    first_epoch + 1,
                    self.epochs
                )));
            }
        }
        let mut within = resume.and_then(|r| r.within_epoch.clone());
        let ce = CrossEntropyLossConfig::new().init(&device);
        let mut report = TrainReport {
            steps: first_epoch * steps_per_epoch + within.as_ref().map_or(0, |w| w.steps_done),
            epochs: Vec::new(),
            stopped_early: false,
        };
        let every = hook.metrics_every().max(1);
        for epoch in first_epoch..self.epochs {
            let mut data_rng = epoch_rng(self.seed, Stream::Data, epoch);
            let mut mask_rng = epoch_rng(self.seed, Stream::Masks, epoch);
            let batches = batch_indices(data.len(), self.batch_size, true, Some(&mut data_rng));
            let mut sums = EpochSums::default();
            // A run resumed inside this epoch takes up where it stopped.
            let mut skip = 0;
            if let Some(w) = within.take() {
                skip = w.steps_done;
                data_rng = w.data_rng;
                mask_rng = w.mask_rng;
                sums = EpochSums {
                    loss: w.loss_sum,
                    correct: w.correct_sum,
                    examples: w.examples,
                };
            }
            // Per-step [loss, penalty, correct] still on the device, read together.
            let mut pending: Vec<Tensor<B::InnerBackend, 1>> = Vec::new();
            let (trained, end) = std::thread::scope(|scope| {
                let mut model = model;
                // The next batch is built (gathered and augmented) while this step runs;
                // each comes with the data stream as it is after building it.
                let (tx, rx) = std::sync::mpsc::sync_channel::<(HostBatch, ChaCha12Rng)>(1);
                let augment = self.augment;
                scope.spawn(move || {
                    for idx in &batches[skip..] {
                        let batch = data.host_batch_augmented(idx, &augment, &mut data_rng);
                        if tx.send((batch, data_rng.clone())).is_err() {
                            break;
                        }
                    }
                });
                for (i, (batch, data_rng)) in (skip..).zip(rx.iter()) {
                    let step = report.steps;
                    let (x, y) = batch.to_device::<B>(&device);
                    let (logits, plan, rate) = forward(&model, x, step, total, &mut mask_rng);
                    let loss = ce.forward(logits.clone(), y.clone());
                    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
                    let penalty =
                        model
                            .network()
                            .apply_l2_gradient(&plan, self.optim.l2, &mut grads);
                    let lr = self.optim.lr_at(step, total);
                    model = optim.step(lr, model, grads);
                    pending.push(Tensor::cat(
                        vec![loss.inner(), penalty, correct(logits.inner(), y.inner())],
                        0,
                    ));
                    report.steps += 1;
                    let last = i + 1 == steps_per_epoch;
                    let metrics = if pending.len() >= every || last {
                        let first = report.steps - pending.len();
                        match sums.read(&mut pending, self.batch_size) {
                            Ok(m) => Some(m),
                            Err((k, what)) => return (model, EpochEnd::Diverged(first + k, what)),
                        }
                    } else {
                        None
                    };
                    let info = StepInfo {
                        step,
                        total_steps: total,
                        epoch,
                        lr,
                        drop_rate: rate,
                        metrics,
                    };
                    if hook.on_step(&info).is_break() {
                        return (model, EpochEnd::Stopped);
                    }
                    // A stop at the epoch's last step waits for the epoch's checkpoint.
                    if !last && hook.stop_requested() {
                        let first = report.steps - pending.len();
                        if !pending.is_empty()
                            && let Err((k, what)) = sums.read(&mut pending, self.batch_size)
                        {
                            return (model, EpochEnd::Diverged(first + k, what));
                        }
                        let w = WithinEpoch {
                            steps_done: i + 1,
                            data_rng,
                            mask_rng: mask_rng.clone(),
                            loss_sum: sums.loss,
                            correct_sum: sums.correct,
                            examples: sums.examples,
                        };
                        return (model, EpochEnd::Interrupted(Box::new(w)));
                    }
                }
                (model, EpochEnd::Done)
            });
            model = trained;
            let diverged = |step: usize, what: String| TrainError::Diverged {
                epoch: epoch + 1,
                epochs: self.epochs,
                step: step + 1,
                total_steps: total,
                what,
            };
            match end {
                EpochEnd::Done => {}
                EpochEnd::Stopped => {
                    report.stopped_early = true;
                    return Ok((model, report));
                }
                EpochEnd::Diverged(step, what) => return Err(diverged(step, what)),
                EpochEnd::Interrupted(w) => {
                    report.stopped_early = true;
                    if !weights_finite(&model) {
                        return Err(diverged(
                            report.steps - 1,
                            "the weights are not finite after this step".into(),
                        ));
                    }
                    if hook.wants_checkpoint() {
                        let optimizer = StateRecorder::new()
                            .record(optim.to_record(), ())
                            .map_err(|e| {
                                TrainError::Resume(format!("encoding optimizer state: {e}"))
                            })?;
                        let _ = hook.on_checkpoint(Checkpoint {
                            epochs_done: epoch,
                            model: &model,
                            optimizer,
                            within_epoch: Some(*w),
                        });
                    }
                    return Ok((model, report));
                }
            }
            // A last step can leave the weights non-finite with a finite loss.
            if !weights_finite(&model) {
                return Err(diverged(
                    report.steps - 1,
                    "the weights are not finite after this step".into(),
                ));
            }
            let info = EpochInfo {
                epoch,
                epochs: self.epochs,
                mean_loss: sums.loss / steps_per_epoch.max(1) as f64,
                train_accuracy: sums.correct / sums.examples.max(1) as f64,
            };
            report.epochs.push(info.clone());
            let mut flow = hook.on_epoch(&info, &model);
            if flow.is_continue() && hook.wants_checkpoint() {
                let optimizer = StateRecorder::new()
                    .record(optim.to_record(), ())
                    .map_err(|e| TrainError::Resume(format!("encoding optimizer state: {e}")))?;
                flow = hook.on_checkpoint(Checkpoint {
                    epochs_done: epoch + 1,
                    model: &model,
                    optimizer,
                    within_epoch: None,
                });
            }
            if flow.is_break() || (epoch + 1 < self.epochs && hook.stop_requested()) {
                report.stopped_early = true;
                break;
            }
        }
        Ok((model, report))
    }
}
