//! 3x3 average pooling (stride 1, padding 1, padding not counted) and its input gradient
//! on the CPU backends.
//!
//! Both are a 3x3 box sum over a zero-bordered plane: the forward divides each sum by the
//! number of its taps inside the image ([`taps_inside`]); the gradient divides each output
//! gradient by that number first and box-sums the result (each input receives from the
//! windows that cover it, which are its own 3x3 neighbourhood). The sum runs one tap at a
//! time over the whole bordered plane (vectorised, the instruction set picked at run
//! time), taps in row-major order, from `+0.0`: Flex's kernels add the same values in the
//! same order and skip the border, and adding the border's `+0.0` changes no sum (a sum
//! that starts at `+0.0` is never `-0.0`), so the results are Flex's bit for bit.

use rayon::prelude::*;

/// How many taps of the 3x3 window at `(y, x)` of an `h x w` plane lie inside it.
fn taps_inside(y: usize, x: usize, h: usize, w: usize) -> usize {
    ((y + 2).min(h) - y.saturating_sub(1)) * ((x + 2).min(w) - x.saturating_sub(1))
}

/// Scratch space for one plane: the zero-bordered copy (`h + 2` rows of `w + 2`) and the
/// box sums in the bordered rows' coordinates (the last two columns of each are dropped).
struct BoxSum {
    wide: usize,
    padded: Vec<f32>,
    sum: Vec<f32>,
}

impl BoxSum {
    fn new(h: usize, w: usize) -> Self {
        let wide = w + 2;
        BoxSum {
            wide,
            // Two values of slack: the last tap's run reaches past the bordered plane,
            // into dropped columns only.
            padded: vec![0.0; (h + 2) * wide + 2],
            sum: vec![0.0; h * wide],
        }
    }

    /// Box-sums the plane whose rows `fill(y, row)` writes (the border stays zero: only
    /// the interior is ever written).
    fn run(&mut self, h: usize, w: usize, mut fill: impl FnMut(usize, &mut [f32])) {
        let wide = self.wide;
        for y in 0..h {
            let at = (y + 1) * wide + 1;
            fill(y, &mut self.padded[at..at + w]);
        }
        self.sum.fill(0.0);
        let (padded, sum) = (&self.padded, &mut self.sum);
        pulp::Arch::new().dispatch(
            #[inline(always)]
            || {
                let len = sum.len();
                for t in 0..9 {
                    let offset = (t / 3) * wide + t % 3;
                    for (s, &v) in sum.iter_mut().zip(&padded[offset..offset + len]) {
                        *s += v;
                    }
                }
            },
        );
    }

    /// Row `y` of the box sums.
    fn row(&self, y: usize, w: usize) -> &[f32] {
        &self.sum[y * self.wide..y * self.wide + w]
    }
}

/// Runs `plane_op` on each plane of `[n, c, h, w]` data in parallel, with its own scratch.
fn per_plane(
    src: &[f32],
    [n, c, h, w]: [usize; 4],
    plane_op: impl Fn(&mut BoxSum, &[f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let plane = h * w;
    let mut out = vec![0f32; n * c * plane];
    if plane == 0 {
        return out;
    }
    out.par_chunks_mut(plane)
        .zip(src.par_chunks(plane))
        .for_each_init(|| BoxSum::new(h, w), |s, (o, p)| plane_op(s, p, o));
    out
}

/// 3x3 average pooling, stride 1, padding 1, the padding not counted; planes in parallel.
pub fn avg_pool3x3_forward(x: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [_, _, h, w] = dims;
    per_plane(x, dims, |s, p, o| {
        s.run(h, w, |y, row| row.copy_from_slice(&p[y * w..(y + 1) * w]));
        for (y, out) in o.chunks_exact_mut(w).enumerate() {
            for (x, (o, &v)) in out.iter_mut().zip(s.row(y, w)).enumerate() {
                *o = v / taps_inside(y, x, h, w) as f32;
            }
        }
    })
}

/// The input gradient of [`avg_pool3x3_forward`] from the output gradient `g`; planes in
/// parallel.
pub fn avg_pool3x3_grad(g: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [_, _, h, w] = dims;
    per_plane(g, dims, |s, p, o| {
        s.run(h, w, |y, row| {
            for (x, (r, &v)) in row.iter_mut().zip(&p[y * w..(y + 1) * w]).enumerate() {
                *r = v / taps_inside(y, x, h, w) as f32;
            }
        });
        for (y, out) in o.chunks_exact_mut(w).enumerate() {
            out.copy_from_slice(s.row(y, w));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::testing::{POOL_DIMS, bits, lcg};

    /// The definition, serially: each output sums its window's taps inside the plane in
    /// row-major order from `+0.0` and divides by their number; each output's gradient,
    /// divided by that number, is added to those taps, outputs in row-major order.
    fn reference(x: &[f32], g: &[f32], [n, c, h, w]: [usize; 4]) -> (Vec<f32>, Vec<f32>) {
        let plane = h * w;
        let (mut out, mut dx) = (vec![0f32; x.len()], vec![0f32; x.len()]);
        for i in 0..n * c {
            let base = i * plane;
            for y in 0..h {
                for xx in 0..w {
                    let rows = y.saturating_sub(1)..(y + 2).min(h);
                    let cols = xx.saturating_sub(1)..(xx + 2).min(w);
                    let count = rows.len() * cols.len();
                    let share = g[base + y * w + xx] / count as f32;
                    let mut sum = 0f32;
                    for r in rows {
                        for col in cols.clone() {
                            sum += x[base + r * w + col];
                            dx[base + r * w + col] += share;
                        }
                    }
                    out[base + y * w + xx] = sum / count as f32;
                }
            }
        }
        (out, dx)
    }

    #[test]
    fn matches_the_definition_bit_for_bit_with_signed_zeros_and_non_finite_values() {
        let mut next = lcg(11);
        for dims in POOL_DIMS.into_iter().chain([[1, 1, 2, 2]]) {
            let len = dims.iter().product();
            let mut x: Vec<f32> = (0..len)
                .map(|_| match next() % 5 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => (next() % 10_000) as f32 / 77.0 - 60.0,
                })
                .collect();
            let g: Vec<f32> = (0..len)
                .map(|_| match next() % 4 {
                    0 => -0.0,
                    _ => (next() % 1000) as f32 / 37.0 - 9.0,
                })
                .collect();
            let check = |x: &[f32], what: &str| {
                let (want_out, want_dx) = reference(x, &g, dims);
                assert_eq!(
                    bits(&avg_pool3x3_forward(x, dims)),
                    bits(&want_out),
                    "forward, {what} {dims:?}"
                );
                assert_eq!(
                    bits(&avg_pool3x3_grad(&g, dims)),
                    bits(&want_dx),
                    "gradient, {what} {dims:?}"
                );
            };
            check(&x, "finite");
            x[0] = f32::INFINITY;
            x[len - 1] = f32::NEG_INFINITY;
            check(&x, "infinite");
            // NaN: compare where the NaNs are.
            x[len / 2] = f32::NAN;
            let (want_out, _) = reference(&x, &g, dims);
            let got = avg_pool3x3_forward(&x, dims);
            assert_eq!(
                got.iter().map(|v| v.is_nan()).collect::<Vec<_>>(),
                want_out.iter().map(|v| v.is_nan()).collect::<Vec<_>>(),
                "NaN {dims:?}"
            );
        }
    }
}
