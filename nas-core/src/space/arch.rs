//! Architectures as plain data: operations, blocks, genotypes, and their text and JSON
//! forms.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::SpaceError;

/// One candidate operation of a choice block (the 7-op menu of the paper).
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

/// One choice block: 1..=max_inputs distinct inputs and 1..=max_ops distinct operations.
///
/// Its lists are private and always sorted (the canonical form): every way of making a
/// block, [`Block::new`], the text and JSON parsers and [`super::SearchSpace::from_decisions`],
/// goes through the one constructor, so equal blocks compare, hash and print equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "RawBlock")]
pub struct Block {
    /// Chosen inputs, sorted: 0 and 1 are the cell inputs, 2 + i is block i.
    inputs: Vec<usize>,
    /// Chosen operations, sorted in menu order of [`OpKind::ALL`].
    ops: Vec<OpKind>,
}

/// The serialised form of a block, possibly unsorted; read through [`Block::new`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock {
    inputs: Vec<usize>,
    ops: Vec<OpKind>,
}

impl From<RawBlock> for Block {
    fn from(raw: RawBlock) -> Self {
        Block::new(raw.inputs, raw.ops)
    }
}

impl Block {
    /// A block with its lists sorted (the canonical form). Call
    /// [`super::SearchSpace::check`] to validate it against a space.
    pub fn new(mut inputs: Vec<usize>, mut ops: Vec<OpKind>) -> Self {
        inputs.sort_unstable();
        ops.sort_unstable();
        Block { inputs, ops }
    }

    /// The chosen inputs, sorted: 0 and 1 are the cell inputs, 2 + i is block i.
    pub fn inputs(&self) -> &[usize] {
        &self.inputs
    }

    /// The chosen operations, sorted in the order of [`OpKind::ALL`].
    pub fn ops(&self) -> &[OpKind] {
        &self.ops
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

    /// The genotype used by cells of `kind`, to change.
    pub fn genotype_mut(&mut self, kind: CellKind) -> &mut Genotype {
        match kind {
            CellKind::Normal => &mut self.normal,
            CellKind::Reduction => &mut self.reduction,
        }
    }

    /// JSON form (serde).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the JSON form and checks it against `space`.
    pub fn from_json(space: &super::SearchSpace, json: &str) -> Result<Self, SpaceError> {
        let arch: Architecture = serde_json::from_str(json).map_err(|e| SpaceError::Parse {
            text: json.chars().take(80).collect(),
            reason: e.to_string(),
        })?;
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
    /// against any space: use [`SearchSpace::parse`](crate::SearchSpace::parse) for that.
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
