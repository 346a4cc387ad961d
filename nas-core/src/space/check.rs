//! Checking that an architecture belongs to a space.

use std::collections::BTreeSet;

use super::{Architecture, Block, BlockProblem, CellKind, Genotype, SearchSpace, SpaceError};

impl SearchSpace {
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
        if block.inputs().is_empty() {
            return Err(BlockProblem::NoInputs {
                max: self.max_inputs,
            });
        }
        if block.inputs().len() > self.max_inputs {
            return Err(BlockProblem::TooManyInputs {
                found: block.inputs().len(),
                max: self.max_inputs,
            });
        }
        let mut seen = BTreeSet::new();
        for &i in block.inputs() {
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
        if block.ops().is_empty() {
            return Err(BlockProblem::NoOps { max: self.max_ops });
        }
        if block.ops().len() > self.max_ops {
            return Err(BlockProblem::TooManyOps {
                found: block.ops().len(),
                max: self.max_ops,
            });
        }
        let mut seen = BTreeSet::new();
        for &op in block.ops() {
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
}
