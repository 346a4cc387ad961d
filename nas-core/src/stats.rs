//! Parameter count and multiply-adds of a stand-alone architecture, computed from the
//! space alone (no model is built).

use serde::{Deserialize, Serialize};

use crate::ops::LayerConfig;
use crate::space::{Architecture, FeatureMap, OpKind, SearchSpace, SpaceError};

/// Size of a stand-alone model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelStats {
    /// Trainable parameters (convolutions, normalisation scales and shifts, classifier).
    pub params: u64,
    /// Multiply-adds of one forward pass on one image, counting convolutions and the
    /// classifier (not normalisation, pooling, ReLU or additions).
    pub macs: u64,
}

impl ModelStats {
    /// Parameters and multiply-adds of `arch`'s stand-alone model.
    pub fn of(
        space: &SearchSpace,
        arch: &Architecture,
        cfg: &LayerConfig,
    ) -> Result<Self, SpaceError> {
        space.validate()?;
        space.check(arch)?;
        let norm = |c: usize| if cfg.learnable_norm { 2 * c as u64 } else { 0 };
        let mut s = ModelStats { params: 0, macs: 0 };
        // A convolution `c_in -> c_out` with `k` taps per (in, out) pair at `hw` output pixels.
        let conv = |s: &mut ModelStats, c_in: usize, c_out: usize, k: usize, hw: usize| {
            let p = (c_in * c_out * k) as u64;
            s.params += p;
            s.macs += p * hw as u64;
        };
        let area = |m: FeatureMap| m.size[0] * m.size[1];
        let stem = space.stem_output();
        conv(&mut s, space.input_shape[0], stem.channels, 9, area(stem));
        s.params += norm(stem.channels);
        let mut last = stem;
        for site in space.cell_sites() {
            let c = site.channels;
            let hw = area(site.output);
            for input in site.inputs {
                // 1x1 projection or factorized reduction: c_in * c weights either way.
                conv(&mut s, input.channels, c, 1, hw);
                s.params += norm(c);
            }
            for block in &arch.genotype(site.kind).blocks {
                for op in block.ops() {
                    match op {
                        OpKind::SepConv3 | OpKind::SepConv5 | OpKind::SepConv7 => {
                            let k = match op {
                                OpKind::SepConv3 => 3,
                                OpKind::SepConv5 => 5,
                                _ => 7,
                            };
                            for _ in 0..2 {
                                conv(&mut s, 1, c, k * k, hw); // depthwise
                                conv(&mut s, c, c, 1, hw); // pointwise
                                s.params += norm(c);
                            }
                        }
                        OpKind::Conv1x7x1 => {
                            conv(&mut s, c, c, 7, hw);
                            conv(&mut s, c, c, 7, hw);
                            s.params += norm(c);
                        }
                        OpKind::Identity | OpKind::MaxPool3 | OpKind::AvgPool3 => {}
                    }
                }
            }
            conv(&mut s, c * space.blocks_per_cell, c, 1, hw);
            s.params += norm(c);
            last = site.output;
        }
        conv(&mut s, last.channels, space.classes, 1, 1);
        s.params += space.classes as u64; // classifier bias
        Ok(s)
    }
}
