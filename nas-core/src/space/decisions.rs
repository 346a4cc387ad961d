//! The space as a list of discrete decisions, for controllers such as REINFORCE.

use serde::{Deserialize, Serialize};

use super::{Architecture, Block, CellKind, Genotype, OpKind, SearchSpace, SpaceError};

/// One discrete decision of the space, for controllers (see [`SearchSpace::decisions`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Stable label, e.g. `normal/b2/inputs`.
    pub label: String,
    /// Number of choices; a choice is an index below it.
    pub choices: usize,
}

impl SearchSpace {
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
                    Block::new(inputs, ops)
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
                let mut ops = block.ops().to_vec();
                ops.sort_by_key(|op| self.op_position(*op));
                out.push(ic.iter().position(|s| *s == block.inputs()).unwrap_or(0));
                out.push(op_choices.iter().position(|s| *s == ops).unwrap_or(0));
            }
        }
        Ok(out)
    }

    fn op_position(&self, op: OpKind) -> usize {
        self.ops.iter().position(|o| *o == op).unwrap_or(usize::MAX)
    }
}
