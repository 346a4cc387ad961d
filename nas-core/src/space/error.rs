//! What can be wrong with a space, an architecture or a decision vector.

use thiserror::Error;

use super::{CellKind, OpKind};

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
