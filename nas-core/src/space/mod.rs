//! The search space as plain data: cells of choice blocks (docs/method.md, section 2).
//!
//! Nothing in this module depends on burn. A [`SearchSpace`] describes the network
//! skeleton and the choices; an [`Architecture`] is one point of the space (a normal
//! genotype plus a reduction genotype). Variation operators (uniform sampling,
//! mutation, neighbours) and the ordered list of discrete [`Decision`]s live here so
//! that every search strategy works on any space.
//!
//! # Text form
//!
//! An architecture prints as `N=<genotype>;R=<genotype>`, a genotype as its blocks
//! separated by `/`, and a block as `<inputs>:<ops>`, each a comma-separated list:
//!
//! ```text
//! N=0,1:id,sep3/2:max3/1,3:sep5/4:avg3;R=0:sep7/1,2:id,c17/3:max3/0,4:sep3
//! ```
//!
//! Input `0` is the cell before the previous one, `1` the previous cell, and `2 + i`
//! the output of choice block `i` of the same cell. Lists are kept sorted, so equal
//! architectures have equal text.

mod arch;
mod check;
mod count;
mod decisions;
mod error;
mod mutate;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use arch::{Architecture, Block, CellKind, Genotype, OpKind};
pub use decisions::Decision;
pub use error::{BlockProblem, SpaceError};

/// The search space: the network skeleton and the choices of each block.
///
/// Deserialising checks nothing; call [`SearchSpace::validate`] (every constructor of
/// models and every sampler does) before use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSpace {
    /// Number of stacks; a reduction cell sits between consecutive stacks (at least 2).
    pub stacks: usize,
    /// Normal cells in each stack.
    pub cells_per_stack: usize,
    /// Choice blocks in each cell.
    pub blocks_per_cell: usize,
    /// The most inputs a block may pick (1 or more).
    pub max_inputs: usize,
    /// The most operations a block may apply (1 or more).
    pub max_ops: usize,
    /// The operation menu, in a fixed order.
    pub ops: Vec<OpKind>,
    /// Base filter count F: width of the first stack (doubles at each reduction).
    pub filters: usize,
    /// Number of classes of the classifier.
    pub classes: usize,
    /// Input shape `[channels, height, width]`.
    pub input_shape: [usize; 3],
}

impl Default for SearchSpace {
    fn default() -> Self {
        SearchSpace {
            stacks: 3,
            cells_per_stack: 1,
            blocks_per_cell: 4,
            max_inputs: 2,
            max_ops: 2,
            ops: OpKind::ALL.to_vec(),
            filters: 16,
            classes: 10,
            input_shape: [1, 28, 28],
        }
    }
}

/// A feature map between cells: its width, how often it has been halved, and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureMap {
    /// Channels.
    pub channels: usize,
    /// Number of halvings of the input resolution (the stack it was made in).
    pub level: usize,
    /// `[height, width]`: the input's, halved (rounding up) `level` times.
    pub size: [usize; 2],
}

/// Where a cell sits in the network, and the geometry around it.
///
/// This is the one place the network's shape is derived: the model builder
/// and the parameter / multiply-add count both read it from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellSite {
    /// Normal or reduction.
    pub kind: CellKind,
    /// The stack the cell belongs to (a reduction cell belongs to the stack it opens).
    pub stack: usize,
    /// Output channels of the cell (and of each of its blocks).
    pub channels: usize,
    /// The two cell inputs: `[the output before the previous one, the previous output]`
    /// (the stem's output stands in for cells that do not exist yet).
    pub inputs: [FeatureMap; 2],
    /// The cell's output (its blocks work at this size too).
    pub output: FeatureMap,
}

impl CellSite {
    /// Whether cell input `i` (0 or 1) must be halved to reach the cell's resolution
    /// (a factorized reduction) rather than only projected to its width.
    pub fn reduces_input(&self, i: usize) -> bool {
        self.inputs[i].level != self.output.level
    }
}

/// The most choices (input or operation subsets) one block may offer.
pub const MAX_CHOICES: u128 = 100_000;

impl SearchSpace {
    /// Checks every field; returns the first problem found.
    pub fn validate(&self) -> Result<(), SpaceError> {
        let bad = |m: String| Err(SpaceError::InvalidSpace(m));
        if self.stacks < 2 {
            return bad(format!(
                "stacks = {}: at least 2 are needed (reduction cells sit between stacks)",
                self.stacks
            ));
        }
        if self.cells_per_stack == 0 {
            return bad("cells_per_stack must be at least 1".into());
        }
        if self.blocks_per_cell == 0 {
            return bad("blocks_per_cell must be at least 1".into());
        }
        if self.max_inputs == 0 || self.max_ops == 0 {
            return bad("max_inputs and max_ops must be at least 1".into());
        }
        if self.ops.is_empty() {
            return bad("the operation menu is empty".into());
        }
        let distinct: BTreeSet<_> = self.ops.iter().collect();
        if distinct.len() != self.ops.len() {
            return bad("the operation menu lists an operation twice".into());
        }
        // Strategies enumerate every block's choices: keep them to a size that can be.
        let last = self.num_candidate_inputs(self.blocks_per_cell - 1);
        for (what, n, k) in [
            (
                "input subsets (blocks_per_cell, max_inputs)",
                last,
                self.max_inputs,
            ),
            (
                "operation subsets (ops, max_ops)",
                self.ops.len(),
                self.max_ops,
            ),
        ] {
            match count::count_subsets(n, k) {
                Some(c) if c <= MAX_CHOICES => {}
                c => {
                    return bad(format!(
                        "a block has {} {what}: at most {MAX_CHOICES} can be enumerated",
                        c.map_or("more than 2^128".to_string(), |c| c.to_string())
                    ));
                }
            }
        }
        if self.filters < 2 || !self.filters.is_multiple_of(2) {
            return bad(format!(
                "filters = {}: must be even and at least 2 (factorized reductions split channels in two)",
                self.filters
            ));
        }
        if self.classes < 2 {
            return bad(format!("classes = {}: at least 2 are needed", self.classes));
        }
        let [c, h, w] = self.input_shape;
        if c == 0 || h == 0 || w == 0 {
            return bad(format!(
                "input_shape {:?} has a zero dimension",
                self.input_shape
            ));
        }
        let min_side = 1usize.checked_shl((self.stacks - 1).try_into().unwrap_or(u32::MAX));
        if min_side.is_none_or(|m| h < m || w < m) {
            return bad(format!(
                "input {h}x{w} is too small for {} reductions",
                self.stacks - 1
            ));
        }
        Ok(())
    }

    /// Number of candidate inputs of block `block`: the two cell inputs and the blocks before it.
    pub fn num_candidate_inputs(&self, block: usize) -> usize {
        block + 2
    }

    /// `[height, width]` of a feature map after `level` halvings (rounding up, as a
    /// stride-2 convolution with padding does).
    pub fn resolution(&self, level: usize) -> [usize; 2] {
        let [_, mut h, mut w] = self.input_shape;
        for _ in 0..level {
            h = h.div_ceil(2);
            w = w.div_ceil(2);
        }
        [h, w]
    }

    /// The stem's output: `filters` channels at the input resolution.
    pub fn stem_output(&self) -> FeatureMap {
        FeatureMap {
            channels: self.filters,
            level: 0,
            size: self.resolution(0),
        }
    }

    /// The cells of the network in order, with their kind, stack, width and geometry.
    pub fn cell_sites(&self) -> Vec<CellSite> {
        let mut sites = Vec::new();
        let mut inputs = [self.stem_output(); 2];
        for stack in 0..self.stacks {
            let channels = self.filters << stack;
            let kinds = (stack > 0)
                .then_some(CellKind::Reduction)
                .into_iter()
                .chain(std::iter::repeat_n(CellKind::Normal, self.cells_per_stack));
            for kind in kinds {
                let output = FeatureMap {
                    channels,
                    level: stack,
                    size: self.resolution(stack),
                };
                sites.push(CellSite {
                    kind,
                    stack,
                    channels,
                    inputs,
                    output,
                });
                inputs = [inputs[1], output];
            }
        }
        sites
    }
}
