//! The search space as plain data: cells of choice blocks (METHOD.md section 2).
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

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One candidate operation of a choice block (the 7-op menu of METHOD.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OpKind {
    /// Identity (no parameters).
    #[serde(rename = "id")]
    Identity,
    /// A pair of 3x3 separable convolutions.
    #[serde(rename = "sep3")]
    SepConv3,
    /// A pair of 5x5 separable convolutions.
    #[serde(rename = "sep5")]
    SepConv5,
    /// A pair of 7x7 separable convolutions.
    #[serde(rename = "sep7")]
    SepConv7,
    /// A 1x7 convolution followed by a 7x1 convolution.
    #[serde(rename = "c17")]
    Conv1x7x1,
    /// 3x3 max pooling, stride 1, same padding.
    #[serde(rename = "max3")]
    MaxPool3,
    /// 3x3 average pooling, stride 1, same padding.
    #[serde(rename = "avg3")]
    AvgPool3,
}

impl OpKind {
    /// Every operation, in menu order.
    pub const ALL: [OpKind; 7] = [
        OpKind::Identity,
        OpKind::SepConv3,
        OpKind::SepConv5,
        OpKind::SepConv7,
        OpKind::Conv1x7x1,
        OpKind::MaxPool3,
        OpKind::AvgPool3,
    ];

    /// The short name used in the text form and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Identity => "id",
            OpKind::SepConv3 => "sep3",
            OpKind::SepConv5 => "sep5",
            OpKind::SepConv7 => "sep7",
            OpKind::Conv1x7x1 => "c17",
            OpKind::MaxPool3 => "max3",
            OpKind::AvgPool3 => "avg3",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OpKind {
    type Err = SpaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OpKind::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| SpaceError::UnknownOp(s.to_string()))
    }
}

/// Which of the two genotypes of an architecture a cell uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CellKind {
    /// A normal cell: keeps resolution and width.
    Normal,
    /// A reduction cell: halves the resolution and doubles the width of its inputs first.
    Reduction,
}

impl fmt::Display for CellKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CellKind::Normal => "normal",
            CellKind::Reduction => "reduction",
        })
    }
}

/// Errors from building, parsing or validating search spaces and architectures.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SpaceError {
    /// A field of the search-space configuration is out of range.
    #[error("invalid search space: {0}")]
    InvalidSpace(String),
    /// An operation name that is not in the menu.
    #[error("unknown operation '{0}' (known: id, sep3, sep5, sep7, c17, max3, avg3)")]
    UnknownOp(String),
    /// A block of a genotype breaks a rule of the space.
    #[error("{cell} block {block}: {problem}")]
    Block {
        /// The genotype the block belongs to.
        cell: CellKind,
        /// The index of the block in its cell.
        block: usize,
        /// What is wrong.
        problem: BlockProblem,
    },
    /// A genotype has the wrong number of blocks.
    #[error("{cell} genotype has {found} blocks, the space has {expected}")]
    BlockCount {
        /// The genotype.
        cell: CellKind,
        /// Blocks found.
        found: usize,
        /// Blocks per cell in the space.
        expected: usize,
    },
    /// The text form could not be parsed.
    #[error("cannot parse architecture '{text}': {reason}")]
    Parse {
        /// The text that was given.
        text: String,
        /// Why it could not be parsed.
        reason: String,
    },
    /// A decision vector does not fit the space.
    #[error("decision {index} ({label}): {problem}")]
    Decision {
        /// Index of the decision.
        index: usize,
        /// Its stable label.
        label: String,
        /// What is wrong.
        problem: String,
    },
    /// The number of architectures does not fit in 128 bits.
    #[error("the space has more than 2^128 architectures")]
    TooLarge,
}

/// What is wrong with one block (see [`SpaceError::Block`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BlockProblem {
    /// No inputs were chosen.
    #[error("has no inputs (needs 1 to {max})")]
    NoInputs {
        /// The most inputs allowed.
        max: usize,
    },
    /// More inputs than `max_inputs`.
    #[error("has {found} inputs, at most {max} allowed")]
    TooManyInputs {
        /// Inputs found.
        found: usize,
        /// The most allowed.
        max: usize,
    },
    /// The same input twice.
    #[error("input {0} is chosen twice")]
    DuplicateInput(usize),
    /// An input index outside `0..block + 2`.
    #[error("input {input} is out of range (valid: 0..={max})")]
    InputOutOfRange {
        /// The input index given.
        input: usize,
        /// The largest valid index.
        max: usize,
    },
    /// No operations were chosen.
    #[error("has no operations (needs 1 to {max})")]
    NoOps {
        /// The most operations allowed.
        max: usize,
    },
    /// More operations than `max_ops`.
    #[error("has {found} operations, at most {max} allowed")]
    TooManyOps {
        /// Operations found.
        found: usize,
        /// The most allowed.
        max: usize,
    },
    /// The same operation twice.
    #[error("operation {0} is chosen twice")]
    DuplicateOp(OpKind),
    /// An operation that the space's menu does not offer.
    #[error("operation {0} is not in this space's menu")]
    OpNotInMenu(OpKind),
}

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

/// One discrete decision of the space, for controllers (see [`SearchSpace::decisions`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Stable label, e.g. `normal/b2/inputs`.
    pub label: String,
    /// Number of choices; a choice is an index below it.
    pub choices: usize,
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

    /// All input subsets a block may choose, in canonical order (by size, then lexicographic).
    pub fn input_choices(&self, block: usize) -> Vec<Vec<usize>> {
        subsets(self.num_candidate_inputs(block), self.max_inputs)
    }

    /// All operation subsets a block may choose, in canonical order (menu positions).
    pub fn op_choices(&self) -> Vec<Vec<OpKind>> {
        subsets(self.ops.len(), self.max_ops)
            .into_iter()
            .map(|s| s.into_iter().map(|i| self.ops[i]).collect())
            .collect()
    }

    /// Number of distinct genotypes (one cell type).
    pub fn genotype_count(&self) -> Result<u128, SpaceError> {
        let ops = count_subsets(self.ops.len(), self.max_ops).ok_or(SpaceError::TooLarge)?;
        let mut total: u128 = 1;
        for block in 0..self.blocks_per_cell {
            let inputs = count_subsets(self.num_candidate_inputs(block), self.max_inputs)
                .ok_or(SpaceError::TooLarge)?;
            total = total
                .checked_mul(inputs)
                .and_then(|t| t.checked_mul(ops))
                .ok_or(SpaceError::TooLarge)?;
        }
        Ok(total)
    }

    /// Exact number of architectures in the space (normal x reduction genotypes).
    pub fn size(&self) -> Result<u128, SpaceError> {
        let g = self.genotype_count()?;
        g.checked_mul(g).ok_or(SpaceError::TooLarge)
    }

    /// The space's discrete decisions in a fixed order: for each genotype (normal, then
    /// reduction) and each block, its input subset then its operation subset.
    pub fn decisions(&self) -> Vec<Decision> {
        let ops = self.op_choices().len();
        let mut out = Vec::new();
        for kind in [CellKind::Normal, CellKind::Reduction] {
            for b in 0..self.blocks_per_cell {
                out.push(Decision {
                    label: format!("{kind}/b{b}/inputs"),
                    choices: self.input_choices(b).len(),
                });
                out.push(Decision {
                    label: format!("{kind}/b{b}/ops"),
                    choices: ops,
                });
            }
        }
        out
    }

    /// The architecture a decision vector (one choice per [`SearchSpace::decisions`] entry) stands for.
    pub fn from_decisions(&self, choices: &[usize]) -> Result<Architecture, SpaceError> {
        let decisions = self.decisions();
        if choices.len() != decisions.len() {
            return Err(SpaceError::Decision {
                index: choices.len().min(decisions.len()),
                label: String::from("(count)"),
                problem: format!(
                    "{} choices given, the space has {} decisions",
                    choices.len(),
                    decisions.len()
                ),
            });
        }
        for (index, (c, d)) in choices.iter().zip(&decisions).enumerate() {
            if *c >= d.choices {
                return Err(SpaceError::Decision {
                    index,
                    label: d.label.clone(),
                    problem: format!("choice {c} is out of range (0..{})", d.choices),
                });
            }
        }
        let op_choices = self.op_choices();
        let mut it = choices.iter();
        let mut genotype = || {
            let blocks = (0..self.blocks_per_cell)
                .map(|b| {
                    let inputs = self.input_choices(b)[*it.next().unwrap_or(&0)].clone();
                    let ops = op_choices[*it.next().unwrap_or(&0)].clone();
                    Block { inputs, ops }
                })
                .collect();
            Genotype { blocks }
        };
        let normal = genotype();
        let reduction = genotype();
        Ok(Architecture { normal, reduction })
    }

    /// The decision vector of an architecture (inverse of [`SearchSpace::from_decisions`]).
    pub fn to_decisions(&self, arch: &Architecture) -> Result<Vec<usize>, SpaceError> {
        self.check(arch)?;
        let op_choices = self.op_choices();
        let mut out = Vec::new();
        for g in [&arch.normal, &arch.reduction] {
            for (b, block) in g.blocks.iter().enumerate() {
                let ic = self.input_choices(b);
                let mut ops = block.ops.clone();
                ops.sort_by_key(|op| self.op_position(*op));
                out.push(ic.iter().position(|s| *s == block.inputs).unwrap_or(0));
                out.push(op_choices.iter().position(|s| *s == ops).unwrap_or(0));
            }
        }
        Ok(out)
    }

    fn op_position(&self, op: OpKind) -> usize {
        self.ops.iter().position(|o| *o == op).unwrap_or(usize::MAX)
    }

    /// Checks that an architecture belongs to this space. Errors name the offending block.
    pub fn check(&self, arch: &Architecture) -> Result<(), SpaceError> {
        self.check_genotype(CellKind::Normal, &arch.normal)?;
        self.check_genotype(CellKind::Reduction, &arch.reduction)
    }

    fn check_genotype(&self, cell: CellKind, g: &Genotype) -> Result<(), SpaceError> {
        if g.blocks.len() != self.blocks_per_cell {
            return Err(SpaceError::BlockCount {
                cell,
                found: g.blocks.len(),
                expected: self.blocks_per_cell,
            });
        }
        for (b, block) in g.blocks.iter().enumerate() {
            self.check_block(b, block)
                .map_err(|problem| SpaceError::Block {
                    cell,
                    block: b,
                    problem,
                })?;
        }
        Ok(())
    }

    fn check_block(&self, b: usize, block: &Block) -> Result<(), BlockProblem> {
        let n_in = self.num_candidate_inputs(b);
        if block.inputs.is_empty() {
            return Err(BlockProblem::NoInputs {
                max: self.max_inputs,
            });
        }
        if block.inputs.len() > self.max_inputs {
            return Err(BlockProblem::TooManyInputs {
                found: block.inputs.len(),
                max: self.max_inputs,
            });
        }
        let mut seen = BTreeSet::new();
        for &i in &block.inputs {
            if i >= n_in {
                return Err(BlockProblem::InputOutOfRange {
                    input: i,
                    max: n_in - 1,
                });
            }
            if !seen.insert(i) {
                return Err(BlockProblem::DuplicateInput(i));
            }
        }
        if block.ops.is_empty() {
            return Err(BlockProblem::NoOps { max: self.max_ops });
        }
        if block.ops.len() > self.max_ops {
            return Err(BlockProblem::TooManyOps {
                found: block.ops.len(),
                max: self.max_ops,
            });
        }
        let mut seen = BTreeSet::new();
        for &op in &block.ops {
            if !self.ops.contains(&op) {
                return Err(BlockProblem::OpNotInMenu(op));
            }
            if !seen.insert(op) {
                return Err(BlockProblem::DuplicateOp(op));
            }
        }
        Ok(())
    }

    /// Parses the text form and checks the result against this space.
    pub fn parse(&self, text: &str) -> Result<Architecture, SpaceError> {
        let arch: Architecture = text.parse()?;
        self.check(&arch)?;
        Ok(arch)
    }

    /// Samples an architecture uniformly from the space.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Architecture {
        Architecture {
            normal: self.sample_genotype(rng),
            reduction: self.sample_genotype(rng),
        }
    }

    fn sample_genotype<R: Rng + ?Sized>(&self, rng: &mut R) -> Genotype {
        let blocks = (0..self.blocks_per_cell)
            .map(|b| {
                let inputs = sample_subset(self.num_candidate_inputs(b), self.max_inputs, rng);
                let ops = sample_subset(self.ops.len(), self.max_ops, rng)
                    .into_iter()
                    .map(|i| self.ops[i])
                    .collect();
                Block::new(inputs, ops)
            })
            .collect();
        Genotype { blocks }
    }

    /// Every architecture one step away: in one block of one genotype, one input or one
    /// operation is replaced by another, added (below the limit) or removed (above one).
    pub fn neighbours(&self, arch: &Architecture) -> Vec<Architecture> {
        let mut out = Vec::new();
        for kind in [CellKind::Normal, CellKind::Reduction] {
            let g = arch.genotype(kind);
            for (b, block) in g.blocks.iter().enumerate() {
                let n_in = self.num_candidate_inputs(b);
                let all_inputs: Vec<usize> = (0..n_in).collect();
                for inputs in set_moves(&block.inputs, &all_inputs, self.max_inputs) {
                    let mut a = arch.clone();
                    a.genotype_mut(kind).blocks[b] = Block::new(inputs, block.ops.clone());
                    out.push(a);
                }
                for ops in set_moves(&block.ops, &self.ops, self.max_ops) {
                    let mut a = arch.clone();
                    a.genotype_mut(kind).blocks[b] = Block::new(block.inputs.clone(), ops);
                    out.push(a);
                }
            }
        }
        out
    }

    /// One uniformly chosen neighbour (see [`SearchSpace::neighbours`]); the architecture
    /// itself if it has none (a space with a single architecture).
    pub fn mutate<R: Rng + ?Sized>(&self, arch: &Architecture, rng: &mut R) -> Architecture {
        self.neighbours(arch)
            .choose(rng)
            .cloned()
            .unwrap_or_else(|| arch.clone())
    }
}

/// Replacement, addition and removal moves of one element of a set.
fn set_moves<T: Copy + Ord>(current: &[T], universe: &[T], max: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let absent: Vec<T> = universe
        .iter()
        .copied()
        .filter(|x| !current.contains(x))
        .collect();
    for (i, _) in current.iter().enumerate() {
        for &new in &absent {
            let mut s = current.to_vec();
            s[i] = new;
            out.push(s);
        }
        if current.len() > 1 {
            let mut s = current.to_vec();
            s.remove(i);
            out.push(s);
        }
    }
    if current.len() < max {
        for &new in &absent {
            let mut s = current.to_vec();
            s.push(new);
            out.push(s);
        }
    }
    out
}

fn binomial(n: usize, k: usize) -> Option<u128> {
    if k > n {
        return Some(0);
    }
    let mut r: u128 = 1;
    for i in 0..k {
        r = r.checked_mul((n - i) as u128)? / (i as u128 + 1);
    }
    Some(r)
}

fn count_subsets(n: usize, max: usize) -> Option<u128> {
    (1..=max.min(n)).try_fold(0u128, |acc, k| acc.checked_add(binomial(n, k)?))
}

/// All subsets of `0..n` with 1..=max elements, by size then lexicographic.
fn subsets(n: usize, max: usize) -> Vec<Vec<usize>> {
    fn rec(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            rec(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    for k in 1..=max.min(n) {
        rec(0, n, k, &mut Vec::new(), &mut out);
    }
    out
}

/// A uniformly chosen subset of `0..n` with 1..=max elements (every subset equally likely).
fn sample_subset<R: Rng + ?Sized>(n: usize, max: usize, rng: &mut R) -> Vec<usize> {
    let weights: Vec<f64> = (1..=max.min(n))
        .map(|k| binomial(n, k).map_or(f64::MAX, |c| c as f64))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    let mut k = weights.len();
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            k = i + 1;
            break;
        }
        u -= w;
    }
    let mut all: Vec<usize> = (0..n).collect();
    all.shuffle(rng);
    all.truncate(k);
    all
}

/// One choice block: 1..=max_inputs distinct inputs and 1..=max_ops distinct operations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// Chosen inputs, sorted: 0 and 1 are the cell inputs, 2 + i is block i.
    pub inputs: Vec<usize>,
    /// Chosen operations, sorted in menu order of [`OpKind::ALL`].
    pub ops: Vec<OpKind>,
}

impl Block {
    /// A block with its lists sorted (the canonical form). Call [`SearchSpace::check`] to validate.
    pub fn new(mut inputs: Vec<usize>, mut ops: Vec<OpKind>) -> Self {
        inputs.sort_unstable();
        ops.sort_unstable();
        Block { inputs, ops }
    }
}

/// The choices of every block of one cell type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genotype {
    /// One entry per choice block, in order.
    pub blocks: Vec<Block>,
}

/// One architecture of the space: a normal genotype and a reduction genotype.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    /// Used by every normal cell.
    pub normal: Genotype,
    /// Used by every reduction cell.
    pub reduction: Genotype,
}

impl Architecture {
    /// The genotype used by cells of `kind`.
    pub fn genotype(&self, kind: CellKind) -> &Genotype {
        match kind {
            CellKind::Normal => &self.normal,
            CellKind::Reduction => &self.reduction,
        }
    }

    fn genotype_mut(&mut self, kind: CellKind) -> &mut Genotype {
        match kind {
            CellKind::Normal => &mut self.normal,
            CellKind::Reduction => &mut self.reduction,
        }
    }

    /// The same architecture with every block's lists sorted.
    pub fn canonical(mut self) -> Self {
        for g in [&mut self.normal, &mut self.reduction] {
            for b in &mut g.blocks {
                *b = Block::new(std::mem::take(&mut b.inputs), std::mem::take(&mut b.ops));
            }
        }
        self
    }

    /// JSON form (serde).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the JSON form and checks it against `space`.
    pub fn from_json(space: &SearchSpace, json: &str) -> Result<Self, SpaceError> {
        let arch: Architecture = serde_json::from_str(json).map_err(|e| SpaceError::Parse {
            text: json.chars().take(80).collect(),
            reason: e.to_string(),
        })?;
        let arch = arch.canonical();
        space.check(&arch)?;
        Ok(arch)
    }
}

impl fmt::Display for Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (b, block) in self.blocks.iter().enumerate() {
            if b > 0 {
                f.write_str("/")?;
            }
            let inputs: Vec<String> = block.inputs.iter().map(|i| i.to_string()).collect();
            let ops: Vec<&str> = block.ops.iter().map(|o| o.name()).collect();
            write!(f, "{}:{}", inputs.join(","), ops.join(","))?;
        }
        Ok(())
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "N={};R={}", self.normal, self.reduction)
    }
}

impl FromStr for Architecture {
    type Err = SpaceError;

    /// Parses the text form. The result is canonical (sorted lists) but not checked
    /// against any space: use [`SearchSpace::parse`] for that.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| SpaceError::Parse {
            text: text.to_string(),
            reason,
        };
        let text_t = text.trim();
        let (n, r) = text_t
            .split_once(';')
            .ok_or_else(|| err("expected 'N=...;R=...'".into()))?;
        let n = n
            .trim()
            .strip_prefix("N=")
            .ok_or_else(|| err("the normal genotype must start with 'N='".into()))?;
        let r = r
            .trim()
            .strip_prefix("R=")
            .ok_or_else(|| err("the reduction genotype must start with 'R='".into()))?;
        let parse_genotype = |kind: CellKind, s: &str| -> Result<Genotype, SpaceError> {
            let blocks = s
                .split('/')
                .enumerate()
                .map(|(b, bs)| {
                    let (ins, ops) = bs.split_once(':').ok_or_else(|| {
                        err(format!("{kind} block {b} ('{bs}'): expected '<inputs>:<ops>'"))
                    })?;
                    let inputs = split_list(ins)
                        .map(|x| {
                            x.parse::<usize>().map_err(|_| {
                                err(format!("{kind} block {b}: input '{x}' is not a number"))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let ops = split_list(ops)
                        .map(|x| {
                            x.parse::<OpKind>().map_err(|_| {
                                err(format!(
                                    "{kind} block {b}: unknown operation '{x}' (known: id, sep3, sep5, sep7, c17, max3, avg3)"
                                ))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Block::new(inputs, ops))
                })
                .collect::<Result<Vec<_>, SpaceError>>()?;
            Ok(Genotype { blocks })
        };
        Ok(Architecture {
            normal: parse_genotype(CellKind::Normal, n)?,
            reduction: parse_genotype(CellKind::Reduction, r)?,
        })
    }
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}
