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

/// Where a cell sits in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellSite {
    /// Normal or reduction.
    pub kind: CellKind,
    /// The stack the cell belongs to (a reduction cell belongs to the stack it opens).
    pub stack: usize,
    /// Output channels of the cell (and of each of its blocks).
    pub channels: usize,
}

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
        let min_side = 1usize << (self.stacks - 1);
        if h < min_side || w < min_side {
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

    /// The cells of the network in order, with their kind, stack and width.
    pub fn cell_sites(&self) -> Vec<CellSite> {
        let mut sites = Vec::new();
        for stack in 0..self.stacks {
            let channels = self.filters << stack;
            if stack > 0 {
                sites.push(CellSite {
                    kind: CellKind::Reduction,
                    stack,
                    channels,
                });
            }
            for _ in 0..self.cells_per_stack {
                sites.push(CellSite {
                    kind: CellKind::Normal,
                    stack,
                    channels,
                });
            }
        }
        sites
    }
}
