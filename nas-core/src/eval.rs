//! Evaluation: one-shot scoring of architectures with a trained supernet, evaluation of
//! stand-alone models, and the supernet's [`Evaluator`].

use crate::backend::{NasAutodiffBackend, NasBackend};
use burn::module::AutodiffModule;
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::data::{Augment, ImageDataset, batch_indices};
use crate::network::Plan;
use crate::ops::{LayerConfig, NormMode};
use crate::space::{Architecture, SearchSpace};
use crate::standalone::StandaloneModel;
use crate::supernet::Supernet;
use crate::train::{NoHook, OptimConfig, StandaloneTrainConfig, train_standalone};

pub use crate::search::{EvalError, Evaluator, Metrics};

/// Per-example predicted class distributions (for the paper's KL analysis).
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Softmax probabilities, example after example, `classes` values each.
    pub probs: Vec<f32>,
    /// Number of classes.
    pub classes: usize,
    /// The true label of each example.
    pub labels: Vec<u8>,
}

impl Predictions {
    /// The predicted distribution of example `i`.
    pub fn example(&self, i: usize) -> &[f32] {
        &self.probs[i * self.classes..(i + 1) * self.classes]
    }

    /// Accuracy, mean cross-entropy and count.
    pub fn metrics(&self) -> Metrics {
        let n = self.labels.len();
        let (mut right, mut nll) = (0usize, 0f64);
        for (i, &label) in self.labels.iter().enumerate() {
            let p = self.example(i);
            let arg = p
                .iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (j, &v)| if v > b.1 { (j, v) } else { b })
                .0;
            right += usize::from(arg == label as usize);
            nll -= (p[label as usize].max(1e-12) as f64).ln();
        }
        Metrics {
            accuracy: right as f64 / n.max(1) as f64,
            loss: nll / n.max(1) as f64,
            examples: n,
        }
    }
}

/// `data` in consecutive batches of `batch_size`, on `device`.
fn device_batches<B: NasBackend>(
    data: &ImageDataset,
    batch_size: usize,
    device: &B::Device,
) -> Vec<Tensor<B, 4>> {
    batch_indices::<rand::rngs::StdRng>(data.len(), batch_size.max(1), false, None)
        .iter()
        .map(|idx| data.batch::<B>(idx, device).0)
        .collect()
}

/// Runs `logits_of` over `batches` and collects the softmax outputs, read from the
/// device in one transfer.
fn predict_batches<B: NasBackend>(
    batches: &[Tensor<B, 4>],
    data: &ImageDataset,
    mut logits_of: impl FnMut(Tensor<B, 4>) -> Tensor<B, 2>,
) -> Predictions {
    let probs: Vec<Tensor<B, 2>> = batches
        .iter()
        .map(|x| softmax(logits_of(x.clone()), 1))
        .collect();
    let (probs, classes) = if probs.is_empty() {
        (Vec::new(), data.classes)
    } else {
        let all = Tensor::cat(probs, 0);
        let classes = all.dims()[1];
        (all.into_data().iter::<f32>().collect(), classes)
    };
    Predictions {
        probs,
        classes,
        labels: data.labels.clone(),
    }
}

fn check_shape(data: &ImageDataset, shape: [usize; 3], classes: usize) -> Result<(), EvalError> {
    data.check_fits(shape, classes)
        .map_err(|e| EvalError::Data(e.problem))
}

/// Scores architectures with a trained supernet on held-out data:
/// exactly the candidate's paths on, no dropout, batch statistics per evaluation batch.
///
/// The held-out images are put on the device once, when the evaluator is made, and each
/// architecture's predictions come back in one transfer.
#[derive(Debug)]
pub struct OneShotEvaluator<B: NasBackend> {
    supernet: Supernet<B>,
    data: ImageDataset,
    batches: Vec<Tensor<B, 4>>,
}

impl<B: NasBackend> OneShotEvaluator<B> {
    /// An evaluator over `data` in batches of `batch_size` (normalisation statistics are
    /// those of each batch, so the batch size is part of the protocol).
    pub fn new(
        supernet: Supernet<B>,
        data: ImageDataset,
        batch_size: usize,
        device: B::Device,
    ) -> Result<Self, EvalError> {
        check_shape(&data, supernet.space.input_shape, supernet.space.classes)?;
        if batch_size == 0 {
            return Err(EvalError::Data("batch_size must be at least 1".into()));
        }
        let batches = device_batches(&data, batch_size, &device);
        Ok(OneShotEvaluator {
            supernet,
            data,
            batches,
        })
    }

    /// The supernet used.
    pub fn supernet(&self) -> &Supernet<B> {
        &self.supernet
    }

    /// Per-example predicted distributions of `arch`.
    pub fn predict(&self, arch: &Architecture) -> Result<Predictions, EvalError> {
        self.supernet.space.check(arch)?;
        let plan = Plan::architecture(&self.supernet.space, arch);
        Ok(self.predict_plan(&plan))
    }

    /// Per-example predicted distributions under any plan (e.g. every path on).
    pub fn predict_plan(&self, plan: &Plan) -> Predictions {
        predict_batches(&self.batches, &self.data, |x| {
            self.supernet.forward(x, plan)
        })
    }

    /// Per-example predicted distributions of a model holding one architecture (e.g. one
    /// from a [`FineTuner`]), scored as the supernet scores: these images in these
    /// batches, batch statistics.
    pub fn predict_model(&self, model: &StandaloneModel<B>) -> Predictions {
        predict_batches(&self.batches, &self.data, |x| {
            model.forward(x, NormMode::Batch)
        })
    }
}

/// A short training of each candidate, from the supernet's weights, before it is scored
/// (a diagnostic of weight sharing: does the supernet rank badly because its shared
/// weights fit no single architecture well?). Off with `steps = 0`, the paper's
/// one-shot score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FineTuneConfig {
    /// Training steps per architecture (0: no fine-tuning).
    pub steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// SGD settings; the schedule runs over the `steps`.
    pub optim: OptimConfig,
    /// Seed of the training images drawn (`steps * batch_size`, the same for every
    /// architecture), of their order, and of the weights of a `scratch` start.
    pub seed: u64,
    /// Where each candidate's weights start.
    pub from: FineTuneStart,
}

/// Where a fine-tuned candidate's weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FineTuneStart {
    /// The supernet's weights for the candidate's operations.
    #[default]
    Supernet,
    /// Fresh seeded weights, as a stand-alone training starts: the control that says
    /// what the supernet's weights add over the same short training from scratch.
    Scratch,
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        FineTuneConfig {
            steps: 0,
            batch_size: 64,
            optim: OptimConfig {
                lr: 0.02,
                ..OptimConfig::default()
            },
            seed: 0,
            from: FineTuneStart::Supernet,
        }
    }
}

impl FineTuneConfig {
    /// Whether candidates are fine-tuned at all.
    pub fn enabled(&self) -> bool {
        self.steps > 0
    }

    /// Checks the settings against the number of training images there are (at least
    /// one batch; at most [`MAX_FINETUNE_PASSES`] passes) and returns the training each
    /// candidate gets.
    pub fn check(
        &self,
        train_images: usize,
        augment: Augment,
    ) -> Result<StandaloneTrainConfig, EvalError> {
        if self.batch_size == 0 {
            return Err(EvalError::Data(
                "fine-tuning batch_size must be at least 1".into(),
            ));
        }
        if self.steps == 0 {
            return Err(EvalError::Data("fine-tuning needs at least 1 step".into()));
        }
        if train_images < self.batch_size {
            return Err(EvalError::Data(format!(
                "fine-tuning needs at least one batch of {} training images, {train_images} there",
                self.batch_size
            )));
        }
        if self.steps.saturating_mul(self.batch_size) > MAX_FINETUNE_PASSES * train_images {
            return Err(EvalError::Data(format!(
                "fine-tuning of {} steps of {} images is more than {MAX_FINETUNE_PASSES} passes \
                 over the {train_images} training images: it is meant to be short (its images \
                 are copied per pass); lower the steps",
                self.steps, self.batch_size
            )));
        }
        let train = StandaloneTrainConfig {
            epochs: 1,
            batch_size: self.batch_size,
            optim: self.optim.clone(),
            augment,
            seed: self.seed,
        };
        train
            .validate()
            .map_err(|e| EvalError::Data(e.to_string()))?;
        Ok(train)
    }
}

/// The most passes over the training images one candidate's fine-tuning may make.
pub const MAX_FINETUNE_PASSES: usize = 4;

/// Fine-tunes candidates from a supernet's weights ([`FineTuneConfig`]): each gets a
/// copy of the weights of its own operations and `steps` steps of ordinary training
/// (batch statistics, L2 on its weights) on the same seeded sample of training images.
#[derive(Debug)]
pub struct FineTuner<A: NasAutodiffBackend> {
    start: Start<A>,
    images: ImageDataset,
    train: StandaloneTrainConfig,
    layers: LayerConfig,
}

/// Where a [`FineTuner`]'s candidates start.
#[derive(Debug)]
enum Start<A: NasAutodiffBackend> {
    /// From a supernet's weights.
    Supernet(Box<Supernet<A>>),
    /// From fresh seeded weights, in `space`, on `device`.
    Scratch {
        space: SearchSpace,
        device: A::Device,
    },
}

impl<A: NasAutodiffBackend> FineTuner<A> {
    /// A fine-tuner drawing `cfg.steps * cfg.batch_size` images of `train`: without
    /// repeats while there are enough, else every image once per pass and the last pass
    /// a sample, so that each candidate trains exactly `cfg.steps` steps.
    ///
    /// `layers` builds a `scratch` start; it should be the supernet's.
    pub fn new(
        supernet: Supernet<A>,
        train: &ImageDataset,
        cfg: &FineTuneConfig,
        augment: Augment,
        layers: &LayerConfig,
    ) -> Result<Self, EvalError> {
        let start = match cfg.from {
            FineTuneStart::Supernet => Start::Supernet(Box::new(supernet)),
            FineTuneStart::Scratch => Start::Scratch {
                device: supernet.net.classifier.weight.val().device(),
                space: supernet.space,
            },
        };
        Self::starting(start, train, cfg, augment, layers)
    }

    /// A short training from scratch of every candidate of `space` on `device`, with no
    /// supernet: `cfg` as for [`FineTuner::new`], its `from` ignored. A baseline the
    /// one-shot model should beat (docs/method.md, section 6): per candidate, it costs
    /// `cfg.steps` training steps.
    pub fn scratch(
        space: &SearchSpace,
        device: &A::Device,
        train: &ImageDataset,
        cfg: &FineTuneConfig,
        augment: Augment,
        layers: &LayerConfig,
    ) -> Result<Self, EvalError> {
        let start = Start::Scratch {
            space: space.clone(),
            device: device.clone(),
        };
        Self::starting(start, train, cfg, augment, layers)
    }

    fn starting(
        start: Start<A>,
        train: &ImageDataset,
        cfg: &FineTuneConfig,
        augment: Augment,
        layers: &LayerConfig,
    ) -> Result<Self, EvalError> {
        let train_cfg = cfg.check(train.len(), augment)?;
        let want = cfg.steps * cfg.batch_size;
        let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed ^ 0x0046_5455);
        let mut picked = Vec::with_capacity(want);
        while picked.len() < want {
            let n = (want - picked.len()).min(train.len());
            let mut pass = rand::seq::index::sample(&mut rng, train.len(), n).into_vec();
            pass.sort_unstable();
            picked.extend(pass);
        }
        Ok(FineTuner {
            start,
            images: train.select(&picked),
            train: train_cfg,
            layers: layers.clone(),
        })
    }

    /// `arch` fine-tuned, as an inference model.
    pub fn tune(&self, arch: &Architecture) -> Result<StandaloneModel<A::InnerBackend>, EvalError> {
        let model = match &self.start {
            Start::Supernet(supernet) => supernet.standalone(arch)?,
            Start::Scratch { space, device } => {
                StandaloneModel::new(space, arch, &self.layers, self.train.seed, device)?
            }
        };
        let (model, _) = train_standalone(model, &self.images, &self.train, &mut NoHook)
            .map_err(|e| EvalError::Failed(Box::new(e)))?;
        Ok(model.valid())
    }
}

impl<B: NasBackend> Evaluator for OneShotEvaluator<B> {
    fn evaluate(&mut self, arch: &Architecture) -> Result<Metrics, EvalError> {
        Ok(self.predict(arch)?.metrics())
    }
}

/// Per-example predictions of a stand-alone model. `mode` is normally
/// [`NormMode::Running`]; [`NormMode::Batch`] evaluates with batch statistics.
pub fn predict_standalone<B: NasBackend>(
    model: &StandaloneModel<B>,
    data: &ImageDataset,
    batch_size: usize,
    mode: NormMode,
) -> Result<Predictions, EvalError> {
    check_shape(data, model.space.input_shape, model.space.classes)?;
    let device = model.net.classifier.weight.val().device();
    let batches = device_batches(data, batch_size, &device);
    Ok(predict_batches(&batches, data, |x| model.forward(x, mode)))
}

/// Symmetric KL divergence `KL(p||q) + KL(q||p)` between two predicted distributions
/// of the same examples, averaged over examples.
pub fn symmetric_kl(p: &Predictions, q: &Predictions) -> f64 {
    let n = p.labels.len().min(q.labels.len());
    let eps = 1e-12f64;
    let mut total = 0.0;
    for i in 0..n {
        for (&a, &b) in p.example(i).iter().zip(q.example(i)) {
            let (a, b) = ((a as f64).max(eps), (b as f64).max(eps));
            total += (a - b) * (a / b).ln();
        }
    }
    total / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preds(probs: Vec<f32>) -> Predictions {
        Predictions {
            classes: 2,
            labels: vec![0; probs.len() / 2],
            probs,
        }
    }

    #[test]
    fn symmetric_kl_is_zero_on_equal_and_matches_a_hand_value() {
        let p = preds(vec![0.5, 0.5, 0.9, 0.1]);
        assert!(symmetric_kl(&p, &p).abs() < 1e-12);
        // One example: p = (0.5, 0.5), q = (0.9, 0.1).
        // KL(p||q) + KL(q||p) = sum (p - q) ln(p / q) = -0.4 ln(5/9) + 0.4 ln(5).
        let q = preds(vec![0.9, 0.1]);
        let want = -0.4 * (5.0f64 / 9.0).ln() + 0.4 * 5.0f64.ln();
        let got = symmetric_kl(&preds(vec![0.5, 0.5]), &q);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        assert!((symmetric_kl(&q, &preds(vec![0.5, 0.5])) - want).abs() < 1e-6);
    }

    #[test]
    fn metrics_count_accuracy_and_cross_entropy() {
        let p = Predictions {
            classes: 2,
            labels: vec![0, 1],
            probs: vec![0.8, 0.2, 0.6, 0.4],
        };
        let m = p.metrics();
        assert_eq!(m.examples, 2);
        assert!((m.accuracy - 0.5).abs() < 1e-12);
        let want = -(0.8f64.ln() + 0.4f64.ln()) / 2.0;
        assert!((m.loss - want).abs() < 1e-6);
    }
}
