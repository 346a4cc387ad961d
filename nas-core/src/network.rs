//! The network skeleton shared by the supernet and the stand-alone models.
//!
//! A [`Network`] holds, for every choice block of every cell, one slot per operation of
//! the menu. The supernet fills every slot; a stand-alone model fills only the slots its
//! architecture uses. Both run through the same code, [`Network::forward_mask`], driven
//! by a [`NetworkMask`] that says which inputs and operations of each block are on.
//! This is what makes "supernet with one architecture's paths on" and "stand-alone
//! model of that architecture" compute the same function.

use crate::backend::{NasAutodiffBackend, NasBackend, contiguous_grad};
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::ops::{
    FactorizedReduce, LayerConfig, Norm, NormMode, Op, Preprocess, ReluConvNorm, dense,
};
use crate::space::{Architecture, SearchSpace};

/// Which inputs and operations of one choice block are on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMask {
    /// One flag per candidate input (`block + 2` of them).
    pub inputs: Vec<bool>,
    /// One flag per operation of the space's menu, in menu order.
    pub ops: Vec<bool>,
}

impl BlockMask {
    /// Whether operation slot `op` is computed: it is on and at least one input is on.
    pub fn computes(&self, op: usize) -> bool {
        self.ops[op] && self.inputs.iter().any(|&i| i)
    }
}

/// The masks of every block of one cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellMask {
    /// One entry per choice block.
    pub blocks: Vec<BlockMask>,
}

/// The masks of every cell of the network, in network order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkMask {
    /// One entry per cell (see [`SearchSpace::cell_sites`]).
    pub cells: Vec<CellMask>,
}

impl NetworkMask {
    /// Exactly the paths of `arch` on. `arch` must belong to `space`.
    pub fn from_architecture(space: &SearchSpace, arch: &Architecture) -> Self {
        let cells = space
            .cell_sites()
            .iter()
            .map(|site| {
                let g = arch.genotype(site.kind);
                let blocks = g
                    .blocks
                    .iter()
                    .enumerate()
                    .map(|(b, block)| BlockMask {
                        inputs: (0..space.num_candidate_inputs(b))
                            .map(|i| block.inputs().contains(&i))
                            .collect(),
                        ops: space
                            .ops
                            .iter()
                            .map(|op| block.ops().contains(op))
                            .collect(),
                    })
                    .collect();
                CellMask { blocks }
            })
            .collect();
        NetworkMask { cells }
    }

    /// Every path on.
    pub fn all_on(space: &SearchSpace) -> Self {
        let cells = space
            .cell_sites()
            .iter()
            .map(|_| CellMask {
                blocks: (0..space.blocks_per_cell)
                    .map(|b| BlockMask {
                        inputs: vec![true; space.num_candidate_inputs(b)],
                        ops: vec![true; space.ops.len()],
                    })
                    .collect(),
            })
            .collect();
        NetworkMask { cells }
    }
}

/// What one supernet step runs: one [`NetworkMask`] per ghost batch.
///
/// A batch of `n` examples is split into `ghosts.len()` consecutive ghost batches of
/// `ceil(n / G)` examples (the last may be smaller); each gets its own mask and its own
/// normalisation statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// One mask per ghost batch.
    pub ghosts: Vec<NetworkMask>,
}

impl Plan {
    /// One ghost batch with exactly `arch`'s paths on (one-shot evaluation).
    pub fn architecture(space: &SearchSpace, arch: &Architecture) -> Self {
        Plan {
            ghosts: vec![NetworkMask::from_architecture(space, arch)],
        }
    }

    /// One ghost batch with every path on (the whole supernet, e.g. the reference of the
    /// KL analysis).
    pub fn all_on(space: &SearchSpace) -> Self {
        Plan {
            ghosts: vec![NetworkMask::all_on(space)],
        }
    }

    /// Whether operation `op` of block `block` of cell `cell` is computed in any ghost batch.
    pub fn computes(&self, cell: usize, block: usize, op: usize) -> bool {
        self.ghosts
            .iter()
            .any(|g| g.cells[cell].blocks[block].computes(op))
    }
}

/// One operation evaluated during a forward pass (see [`Trace`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpSite {
    /// Ghost batch index.
    pub ghost: usize,
    /// Cell index in network order.
    pub cell: usize,
    /// Block index in the cell.
    pub block: usize,
    /// Operation slot (menu position).
    pub op: usize,
}

/// The operations a forward pass actually evaluated, recorded at the call site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// Every operation call, in order.
    pub computed: Vec<OpSite>,
}

/// The operation slots of one choice block (menu order); `None` where not instantiated.
#[derive(Module, Debug)]
pub struct BlockOps<B: NasBackend> {
    /// One slot per menu operation.
    pub ops: Vec<Option<Op<B>>>,
}

/// One cell: input preprocessing, choice blocks, and the output projection.
#[derive(Module, Debug)]
pub struct Cell<B: NasBackend> {
    /// Brings the cell before the previous one to this cell's width and resolution.
    pub pre0: Preprocess<B>,
    /// Brings the previous cell to this cell's width and resolution.
    pub pre1: Preprocess<B>,
    /// The choice blocks.
    pub blocks: Vec<BlockOps<B>>,
    /// 1x1 ReLU-Conv-BN from the concatenated block outputs to the cell width.
    pub out: ReluConvNorm<B>,
}

/// The stem: a 3x3 convolution and a normalisation.
#[derive(Module, Debug)]
pub struct Stem<B: NasBackend> {
    /// 3x3 convolution from the image channels to F.
    pub conv: Conv2d<B>,
    /// Normalisation.
    pub norm: Norm<B>,
}

/// Stem, cells and classifier, with some or all operation slots filled.
#[derive(Module, Debug)]
pub struct Network<B: NasBackend> {
    /// The stem.
    pub stem: Stem<B>,
    /// The cells in order (see [`SearchSpace::cell_sites`]).
    pub cells: Vec<Cell<B>>,
    /// Linear classifier after global average pooling.
    pub classifier: Linear<B>,
}

impl<B: NasBackend> Network<B> {
    /// Builds the network, instantiating the operation slots for which `keep(cell, block, op)`
    /// is true. `space` must be valid.
    pub fn new(
        space: &SearchSpace,
        cfg: &LayerConfig,
        device: &B::Device,
        keep: impl Fn(usize, usize, usize) -> bool,
    ) -> Self {
        let f = space.filters;
        let stem = Stem {
            conv: Conv2dConfig::new([space.input_shape[0], f], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            norm: Norm::new(f, cfg, device),
        };
        let mut cells = Vec::new();
        let sites = space.cell_sites();
        for (ci, site) in sites.iter().enumerate() {
            let c = site.channels;
            let pre = |i: usize| {
                let c_in = site.inputs[i].channels;
                if site.reduces_input(i) {
                    Preprocess::Reduce(FactorizedReduce::new(c_in, c, cfg, device))
                } else {
                    Preprocess::Project(ReluConvNorm::new(c_in, c, 1, 1, cfg, device))
                }
            };
            let blocks = (0..space.blocks_per_cell)
                .map(|b| BlockOps {
                    ops: space
                        .ops
                        .iter()
                        .enumerate()
                        .map(|(oi, kind)| keep(ci, b, oi).then(|| Op::new(*kind, c, cfg, device)))
                        .collect(),
                })
                .collect();
            cells.push(Cell {
                pre0: pre(0),
                pre1: pre(1),
                blocks,
                out: ReluConvNorm::new(c * space.blocks_per_cell, c, 1, 1, cfg, device),
            });
        }
        let width = sites.last().map_or(f, |s| s.output.channels);
        let classifier = LinearConfig::new(width, space.classes).init(device);
        Network {
            stem,
            cells,
            classifier,
        }
    }

    /// Runs the network with the paths of `mask` on, recording each evaluated operation in
    /// `trace` under ghost index `ghost`. Operations that are off are not called at all.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels, height, width]`; output: `[batch, classes]` (logits)
    ///
    /// # Panics
    /// If `mask` does not match the network's shape or turns on an empty slot.
    pub fn forward_mask(
        &self,
        x: Tensor<B, 4>,
        mask: &NetworkMask,
        mode: NormMode,
        ghost: usize,
        trace: &mut Trace,
    ) -> Tensor<B, 2> {
        assert_eq!(
            mask.cells.len(),
            self.cells.len(),
            "mask has wrong cell count"
        );
        let s = self.stem.norm.forward(dense(&self.stem.conv, x), mode);
        let (mut s0, mut s1) = (s.clone(), s);
        for (ci, (cell, cm)) in self.cells.iter().zip(&mask.cells).enumerate() {
            let out = self.cell_forward(cell, cm, s0, s1.clone(), mode, (ghost, ci), trace);
            s0 = s1;
            s1 = out;
        }
        let [n, c, _, _] = s1.dims();
        let pooled = s1.mean_dim(3).mean_dim(2).reshape([n, c]);
        self.classifier.forward(pooled)
    }

    #[allow(clippy::too_many_arguments)]
    fn cell_forward(
        &self,
        cell: &Cell<B>,
        cm: &CellMask,
        s0: Tensor<B, 4>,
        s1: Tensor<B, 4>,
        mode: NormMode,
        (ghost, ci): (usize, usize),
        trace: &mut Trace,
    ) -> Tensor<B, 4> {
        assert_eq!(
            cm.blocks.len(),
            cell.blocks.len(),
            "mask has wrong block count"
        );
        let mut states = vec![cell.pre0.forward(s0, mode), cell.pre1.forward(s1, mode)];
        for (bi, (block, bm)) in cell.blocks.iter().zip(&cm.blocks).enumerate() {
            let input = bm
                .inputs
                .iter()
                .enumerate()
                .filter(|(_, on)| **on)
                .map(|(i, _)| states[i].clone())
                .reduce(|a, b| a.add(b));
            let mut out: Option<Tensor<B, 4>> = None;
            if let Some(input) = input {
                for (oi, slot) in block.ops.iter().enumerate() {
                    if !bm.ops[oi] {
                        continue;
                    }
                    let op = slot
                        .as_ref()
                        .expect("mask turns on an operation this network does not hold");
                    trace.computed.push(OpSite {
                        ghost,
                        cell: ci,
                        block: bi,
                        op: oi,
                    });
                    let y = op.forward(input.clone(), mode);
                    out = Some(match out {
                        Some(o) => o.add(y),
                        None => y,
                    });
                }
            }
            let out = out.unwrap_or_else(|| states[1].zeros_like());
            states.push(out);
        }
        // Block outputs feed later blocks too; their gradients from the concatenation are
        // made contiguous before those are added up (see `contiguous_grad`).
        let blocks = states
            .split_off(2)
            .into_iter()
            .map(contiguous_grad)
            .collect();
        cell.out.forward(Tensor::cat(blocks, 1), mode)
    }

    /// Runs a [`Plan`]: the batch is split into ghost batches, each run with its own mask
    /// (and so its own normalisation statistics); the logits are concatenated.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels, height, width]`; output: `[batch, classes]`
    ///
    /// # Panics
    /// If the plan is empty or has more ghost batches than `x` has examples.
    pub fn forward_plan(
        &self,
        x: Tensor<B, 4>,
        plan: &Plan,
        mode: NormMode,
    ) -> (Tensor<B, 2>, Trace) {
        let n = x.dims()[0];
        let g = plan.ghosts.len();
        assert!(
            g >= 1 && g <= n,
            "a plan needs 1..=batch ghost batches (batch {n}, ghosts {g})"
        );
        let mut trace = Trace::default();
        if g == 1 {
            let y = self.forward_mask(x, &plan.ghosts[0], mode, 0, &mut trace);
            return (y, trace);
        }
        let size = n.div_ceil(g);
        let outs = plan
            .ghosts
            .iter()
            .enumerate()
            .filter_map(|(gi, mask)| {
                let start = gi * size;
                (start < n).then(|| {
                    let len = size.min(n - start);
                    let xg = x.clone().narrow(0, start, len);
                    self.forward_mask(xg, mask, mode, gi, &mut trace)
                })
            })
            .collect();
        (Tensor::cat(outs, 0), trace)
    }

    /// Sum of squared weights (convolution kernels and the classifier's matrix; not
    /// normalisation scales or biases) over the always-on parts and the operations that
    /// `plan` computes in at least one ghost batch.
    ///
    /// # Shapes
    /// - output: `[1]`
    pub fn active_squared_weights(&self, plan: &Plan, device: &B::Device) -> Tensor<B, 1> {
        let mut v = SquaredWeights::<B> { sum: None };
        self.visit_active(plan, &mut v);
        v.sum.unwrap_or_else(|| Tensor::zeros([1], device))
    }

    /// Visits the always-on parts and the operations that `plan` computes in at least one
    /// ghost batch: the parameters the L2 penalty covers (each visitor skips what it does
    /// not cover, such as rank-1 parameters).
    fn visit_active<V: ModuleVisitor<B>>(&self, plan: &Plan, v: &mut V) {
        self.stem.visit(v);
        self.classifier.visit(v);
        for (ci, cell) in self.cells.iter().enumerate() {
            cell.pre0.visit(v);
            cell.pre1.visit(v);
            cell.out.visit(v);
            for (bi, block) in cell.blocks.iter().enumerate() {
                for (oi, slot) in block.ops.iter().enumerate() {
                    if let Some(op) = slot
                        && plan.computes(ci, bi, oi)
                    {
                        op.visit(v);
                    }
                }
            }
        }
    }
}

impl<B: NasAutodiffBackend> Network<B> {
    /// The L2 penalty `weight / 2 * active_squared_weights(plan)` applied as its gradient:
    /// adds `weight * w` to the gradient in `grads` of every weight `w` the penalty covers,
    /// and returns the penalty's value.
    ///
    /// This is what training does instead of adding [`Network::active_squared_weights`]
    /// to the loss: the same gradient (up to the order of floating-point sums), without a
    /// square, a sum and an addition per weight in the autodiff graph, whose bookkeeping
    /// cost more than the arithmetic (docs/performance.md).
    ///
    /// # Shapes
    /// - output: `[1]`, on the inner backend (not part of any graph)
    pub fn apply_l2_gradient(
        &self,
        plan: &Plan,
        weight: f64,
        grads: &mut GradientsParams,
    ) -> Tensor<B::InnerBackend, 1> {
        let mut v = L2Gradient::<B> {
            weight,
            grads,
            sum: None,
        };
        self.visit_active(plan, &mut v);
        match v.sum {
            Some(sum) => sum.mul_scalar(weight / 2.0),
            None => Tensor::zeros([1], &self.classifier.weight.val().inner().device()),
        }
    }
}

/// Visitor of [`Network::apply_l2_gradient`]: every parameter of rank 2 or more gets
/// `weight * w` added to its gradient (registered if it had none, unless `weight` is 0),
/// and its sum of squares is added up.
struct L2Gradient<'a, B: NasAutodiffBackend> {
    weight: f64,
    grads: &'a mut GradientsParams,
    sum: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: NasAutodiffBackend> ModuleVisitor<B> for L2Gradient<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if D < 2 {
            return;
        }
        let w = param.val().inner();
        // With no penalty, a weight without a gradient stays without one (as it would
        // through the graph), so the optimizer leaves it alone.
        if self.weight != 0.0 {
            let decay = w.clone().mul_scalar(self.weight);
            let grad = match self.grads.remove::<B::InnerBackend, D>(param.id) {
                Some(g) => g.add(decay),
                None => decay,
            };
            self.grads.register(param.id, grad);
        }
        add_squares(&mut self.sum, w);
    }
}

/// Visitor summing the squares of every parameter of rank 2 or more.
struct SquaredWeights<B: NasBackend> {
    sum: Option<Tensor<B, 1>>,
}

impl<B: NasBackend> ModuleVisitor<B> for SquaredWeights<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if D < 2 {
            return;
        }
        add_squares(&mut self.sum, param.val());
    }
}

/// Adds the sum of the squares of `w` to `sum` (the penalty's running total, in visiting
/// order).
fn add_squares<B: burn::tensor::backend::Backend, const D: usize>(
    sum: &mut Option<Tensor<B, 1>>,
    w: Tensor<B, D>,
) {
    let sq = w.square().sum();
    *sum = Some(match sum.take() {
        Some(s) => s.add(sq),
        None => sq,
    });
}
