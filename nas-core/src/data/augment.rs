//! Training-time augmentation: random crops and horizontal flips.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Training-time augmentation: a random crop of the image padded with zeros (after
/// normalisation, zero is the mean), then a random horizontal flip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Augment {
    /// Pixels of zero padding on each side before the crop (0: no crop).
    pub crop_padding: usize,
    /// Flip horizontally with probability 1/2.
    pub horizontal_flip: bool,
}

impl Augment {
    /// The CIFAR recipe: 4 pixels of padding and random flips.
    pub const CIFAR: Augment = Augment {
        crop_padding: 4,
        horizontal_flip: true,
    };

    /// Whether this leaves every image unchanged.
    pub fn is_identity(&self) -> bool {
        self.crop_padding == 0 && !self.horizontal_flip
    }

    /// Writes an augmented copy of `image` (`shape` = `[c, h, w]`) into `out`.
    pub fn apply<R: Rng + ?Sized>(
        &self,
        image: &[f32],
        out: &mut [f32],
        shape: [usize; 3],
        rng: &mut R,
    ) {
        let [c, h, w] = shape;
        let p = self.crop_padding as i64;
        let (dy, dx) = if p > 0 {
            (
                rng.random_range(-p..=p) as isize,
                rng.random_range(-p..=p) as isize,
            )
        } else {
            (0, 0)
        };
        let flip = self.horizontal_flip && rng.random::<bool>();
        for ch in 0..c {
            let plane = &image[ch * h * w..(ch + 1) * h * w];
            let out_plane = &mut out[ch * h * w..(ch + 1) * h * w];
            for y in 0..h {
                let sy = y as isize + dy;
                for x in 0..w {
                    let fx = if flip { w - 1 - x } else { x };
                    let sx = fx as isize + dx;
                    out_plane[y * w + x] =
                        if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                            plane[sy as usize * w + sx as usize]
                        } else {
                            0.0
                        };
                }
            }
        }
    }
}
