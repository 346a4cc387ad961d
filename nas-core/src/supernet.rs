//! The one-shot model: every operation of every block of every cell, with scheduled path
//! dropout, ghost batches, batch-statistics normalisation and L2 on active paths only.

use crate::backend::NasBackend;
use burn::module::Module;
use burn::tensor::Tensor;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::init::SeededInit;
use crate::network::{BlockMask, CellMask, Network, NetworkMask, Plan, Trace};
use crate::ops::{LayerConfig, NormMode};
use crate::space::{Architecture, SearchSpace, SpaceError};
use crate::standalone::StandaloneModel;

/// The weight-sharing supernet.
///
/// Normalisation always uses the statistics of the current ghost batch, in training and
/// in evaluation: the set of active paths changes from step to step, so running averages
/// would be meaningless.
#[derive(Module, Debug)]
pub struct Supernet<B: NasBackend> {
    /// Every operation slot is filled.
    pub net: Network<B>,
    /// The space this supernet was built for.
    #[module(skip)]
    pub space: SearchSpace,
}

impl<B: NasBackend> Supernet<B> {
    /// A freshly initialised supernet for `space`, its weights drawn from `seed` on the
    /// host ([`crate::init`]): the same on every backend.
    pub fn new(
        space: &SearchSpace,
        cfg: &LayerConfig,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self, SpaceError> {
        space.validate()?;
        let net = Network::new(space, cfg, device, |_, _, _| true);
        Ok(Supernet {
            net: net.map(&mut SeededInit::new(seed, device)),
            space: space.clone(),
        })
    }

    /// Runs a plan (one mask per ghost batch). Operations off in a ghost batch are not
    /// computed for it; an operation off in every ghost batch gets no gradient.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels, height, width]`; output: `[batch, classes]` (logits)
    pub fn forward(&self, x: Tensor<B, 4>, plan: &Plan) -> Tensor<B, 2> {
        self.forward_traced(x, plan).0
    }

    /// [`Supernet::forward`], also returning which operations were evaluated.
    pub fn forward_traced(&self, x: Tensor<B, 4>, plan: &Plan) -> (Tensor<B, 2>, Trace) {
        self.net.forward_plan(x, plan, NormMode::Batch)
    }

    /// Runs exactly `arch`'s paths (one-shot evaluation), one ghost batch.
    pub fn forward_architecture(&self, x: Tensor<B, 4>, arch: &Architecture) -> Tensor<B, 2> {
        self.forward(x, &Plan::architecture(&self.space, arch))
    }

    /// The L2 penalty `weight / 2 * sum(w^2)` over the parameters `plan` uses: the always-on
    /// parts plus every operation computed in at least one ghost batch. Weights of paths
    /// that are off are not in the sum, so they are not decayed.
    ///
    /// Training does not add this to the loss: it applies the same penalty as its gradient
    /// with [`Network::apply_l2_gradient`](crate::network::Network::apply_l2_gradient),
    /// which keeps it out of the autodiff graph.
    ///
    /// # Shapes
    /// - output: `[1]`
    pub fn l2_penalty(&self, plan: &Plan, weight: f64) -> Tensor<B, 1> {
        let device = self.net.classifier.weight.val().device();
        self.net
            .active_squared_weights(plan, &device)
            .mul_scalar(weight / 2.0)
    }

    /// A stand-alone model of `arch` holding copies of this supernet's weights for the
    /// operations it uses (and of every always-on part).
    pub fn standalone(&self, arch: &Architecture) -> Result<StandaloneModel<B>, SpaceError> {
        self.space.check(arch)?;
        let mask = NetworkMask::from_architecture(&self.space, arch);
        let mut net = self.net.clone();
        for (cell, cm) in net.cells.iter_mut().zip(&mask.cells) {
            for (block, bm) in cell.blocks.iter_mut().zip(&cm.blocks) {
                for (slot, on) in block.ops.iter_mut().zip(&bm.ops) {
                    if !on {
                        *slot = None;
                    }
                }
            }
        }
        Ok(StandaloneModel::from_parts(
            net,
            self.space.clone(),
            arch.clone(),
        ))
    }
}

/// What to do when path dropout drops every incoming path of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllDropped {
    /// Keep one of them, chosen uniformly (the default).
    KeepOne,
    /// Leave the node with no incoming path (its output is zero).
    AllowZero,
}

/// How the path-dropout rate moves over training.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropSchedule {
    /// From 0 at the first step to `r_max` at the last, linearly (ScheduledDropPath, the
    /// default).
    #[default]
    Linear,
    /// `r_max` from the first step to the last (an ablation of the schedule).
    Constant,
}

impl DropSchedule {
    fn is_linear(&self) -> bool {
        *self == DropSchedule::Linear
    }
}

/// ScheduledDropPath settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropPathConfig {
    /// The rate reached at the end of training.
    pub r_max: f64,
    /// How the rate gets there: linearly from 0 (the default) or `r_max` throughout.
    /// (Not written when linear, so the keys of supernets trained before this setting
    /// existed stay what they were.)
    #[serde(skip_serializing_if = "DropSchedule::is_linear")]
    pub schedule: DropSchedule,
    /// What happens when every path into a node is dropped.
    pub all_dropped: AllDropped,
}

impl Default for DropPathConfig {
    fn default() -> Self {
        DropPathConfig {
            r_max: 0.25,
            schedule: DropSchedule::Linear,
            all_dropped: AllDropped::KeepOne,
        }
    }
}

impl DropPathConfig {
    /// The rate at `step` of `total` steps. Linear schedule: 0 at the first step, `r_max`
    /// at the last, linear in between. Constant schedule: `r_max` at every step.
    pub fn rate(&self, step: usize, total: usize) -> f64 {
        if self.schedule == DropSchedule::Constant {
            return self.r_max;
        }
        if total <= 1 {
            return if total == 1 && step >= 1 {
                self.r_max
            } else {
                0.0
            };
        }
        self.r_max * (step.min(total - 1) as f64 / (total - 1) as f64)
    }

    /// A plan of `ghosts` independent masks at dropout rate `rate`: every candidate input
    /// and every candidate operation of every block of every cell is dropped
    /// independently with probability `rate^(1/k)`, where `k` is the number of paths
    /// into that node, so all `k` are dropped with probability `rate`.
    pub fn sample_plan<R: Rng + ?Sized>(
        &self,
        space: &SearchSpace,
        rate: f64,
        ghosts: usize,
        rng: &mut R,
    ) -> Plan {
        let n_cells = space.cell_sites().len();
        let ghosts = (0..ghosts.max(1))
            .map(|_| NetworkMask {
                cells: (0..n_cells)
                    .map(|_| CellMask {
                        blocks: (0..space.blocks_per_cell)
                            .map(|b| BlockMask {
                                inputs: self.sample_node(space.num_candidate_inputs(b), rate, rng),
                                ops: self.sample_node(space.ops.len(), rate, rng),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        Plan { ghosts }
    }

    /// Keep flags for the `k` incoming paths of one node.
    pub fn sample_node<R: Rng + ?Sized>(&self, k: usize, rate: f64, rng: &mut R) -> Vec<bool> {
        let p_drop = if rate <= 0.0 {
            0.0
        } else {
            rate.min(1.0).powf(1.0 / k as f64)
        };
        let mut keep: Vec<bool> = (0..k).map(|_| rng.random::<f64>() >= p_drop).collect();
        if k > 0 && self.all_dropped == AllDropped::KeepOne && !keep.iter().any(|&x| x) {
            keep[rng.random_range(0..k)] = true;
        }
        keep
    }
}
