//! 3x3 max pooling (stride 1, padding 1) and its input gradient on the CPU backends.
//!
//! The definition ([`for_each_max3`]): each output is its window's first maximum in
//! row-major order, found by strict `>` from the first tap inside the image; the gradient
//! goes to that tap. The fast path computes the same in the coordinates of a plane
//! bordered with `-inf`, one tap at a time over the whole plane (vectorised, AVX2 picked at
//! run time), keeping the best value and the tap it came from. A `-inf` border never wins a
//! strict `>` against a finite value, so the first tap inside the image wins exactly where
//! the definition starts, and every later tap is compared in the same order: the results
//! are bit for bit the definition's. A plane holding NaN or `-inf` takes the definition's
//! scalar path, where that equivalence would not hold.

use rayon::prelude::*;

/// For each output pixel of a 3x3, stride-1, padding-1 max pooling of one `h x w` plane,
/// `(y, x, index of the first maximum in row-major window order)`, passed to `visit`.
fn for_each_max3(plane: &[f32], h: usize, w: usize, mut visit: impl FnMut(usize, usize)) {
    for y in 0..h {
        let rows = y.saturating_sub(1)..(y + 2).min(h);
        for x in 0..w {
            let cols = x.saturating_sub(1)..(x + 2).min(w);
            let mut best = rows.start * w + cols.start;
            for r in rows.clone() {
                for c in cols.clone() {
                    if plane[r * w + c] > plane[best] {
                        best = r * w + c;
                    }
                }
            }
            visit(y * w + x, best);
        }
    }
}

/// Scratch space for one plane: the `-inf`-bordered copy, and per position of the
/// bordered rows the best value and the tap (0..9, row-major) it came from.
struct Scratch {
    wide: usize,
    padded: Vec<f32>,
    best: Vec<f32>,
    tap: Vec<u32>,
}

impl Scratch {
    fn new(h: usize, w: usize) -> Self {
        let wide = w + 2;
        Scratch {
            wide,
            // Two values of slack: the last tap's run reaches past the bordered plane,
            // into dropped columns only.
            padded: vec![f32::NEG_INFINITY; (h + 2) * wide + 2],
            best: vec![0.0; h * wide],
            tap: vec![0; h * wide],
        }
    }

    /// Whether the fast path gives the definition's result for this plane: no NaN and
    /// no `-inf` (both fail `> -inf`).
    fn suits(plane: &[f32]) -> bool {
        plane
            .iter()
            .fold(true, |ok, &v| ok & (v > f32::NEG_INFINITY))
    }

    /// Fills `best` and `tap` for `plane` (`h x w`); `taps` false skips the tap indices.
    fn run(&mut self, plane: &[f32], w: usize, taps: bool) {
        let wide = self.wide;
        // Only the interior is ever written: the border stays `-inf` across planes.
        for (y, row) in plane.chunks_exact(w).enumerate() {
            let at = (y + 1) * wide + 1;
            self.padded[at..at + w].copy_from_slice(row);
        }
        self.best.fill(f32::NEG_INFINITY);
        let (padded, best, tap) = (&self.padded, &mut self.best, &mut self.tap);
        pulp::Arch::new().dispatch(
            #[inline(always)]
            || {
                let len = best.len();
                for t in 0..9u32 {
                    let offset = (t as usize / 3) * wide + t as usize % 3;
                    let run = &padded[offset..offset + len];
                    if taps {
                        for ((b, k), &v) in best.iter_mut().zip(tap.iter_mut()).zip(run) {
                            let better = v > *b;
                            *k = if better { t } else { *k };
                            *b = if better { v } else { *b };
                        }
                    } else {
                        for (b, &v) in best.iter_mut().zip(run) {
                            *b = if v > *b { v } else { *b };
                        }
                    }
                }
            },
        );
    }
}

/// 3x3 max pooling, stride 1, padding 1 (padding never wins), planes in parallel.
pub fn max_pool3x3_forward(x: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
    let plane = h * w;
    let mut out = vec![0f32; n * c * plane];
    if plane == 0 {
        return out;
    }
    out.par_chunks_mut(plane)
        .zip(x.par_chunks(plane))
        .for_each_init(
            || Scratch::new(h, w),
            |s, (o, p)| {
                if !Scratch::suits(p) {
                    return for_each_max3(p, h, w, |i, best| o[i] = p[best]);
                }
                s.run(p, w, false);
                for (y, row) in o.chunks_exact_mut(w).enumerate() {
                    row.copy_from_slice(&s.best[y * s.wide..y * s.wide + w]);
                }
            },
        );
    out
}

/// The input gradient of [`max_pool3x3_forward`]: each output's gradient is added at the
/// first maximum of its window, outputs in row-major order; planes in parallel.
pub fn max_pool3x3_grad(x: &[f32], g: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
    let plane = h * w;
    let mut dx = vec![0f32; n * c * plane];
    if plane == 0 {
        return dx;
    }
    dx.par_chunks_mut(plane)
        .zip(x.par_chunks(plane).zip(g.par_chunks(plane)))
        .for_each_init(
            || Scratch::new(h, w),
            |s, (d, (p, gp))| {
                if !Scratch::suits(p) {
                    return for_each_max3(p, h, w, |i, best| d[best] += gp[i]);
                }
                s.run(p, w, true);
                for y in 0..h {
                    for x in 0..w {
                        let t = s.tap[y * s.wide + x] as usize;
                        // The winning tap is inside the image: (y + t / 3 - 1, x + t % 3 - 1).
                        let at = (y + t / 3) * w + x + t % 3 - w - 1;
                        d[at] += gp[y * w + x];
                    }
                }
            },
        );
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::testing::{POOL_DIMS, bits, lcg};

    /// The definition applied plane by plane, serially.
    fn reference(x: &[f32], g: &[f32], [n, c, h, w]: [usize; 4]) -> (Vec<f32>, Vec<f32>) {
        let plane = h * w;
        let (mut out, mut dx) = (vec![0f32; x.len()], vec![0f32; x.len()]);
        for i in 0..n * c {
            let r = i * plane..(i + 1) * plane;
            let p = &x[r.clone()];
            for_each_max3(p, h, w, |o, best| {
                out[r.start + o] = p[best];
                dx[r.start + best] += g[r.start + o];
            });
        }
        (out, dx)
    }

    #[test]
    fn the_fast_path_gives_the_definitions_bits_with_ties_zeros_and_non_finite_values() {
        let mut next = lcg(7);
        for dims in POOL_DIMS {
            let len = dims.iter().product();
            // Few distinct values, so ties are common; signed zeros too.
            let mut x: Vec<f32> = (0..len)
                .map(|_| match next() % 7 {
                    0 => 0.0,
                    1 => -0.0,
                    k => k as f32 - 4.0,
                })
                .collect();
            let g: Vec<f32> = (0..len)
                .map(|_| (next() % 1000) as f32 / 37.0 - 9.0)
                .collect();
            let check = |x: &[f32], what: &str| {
                let (want_out, want_dx) = reference(x, &g, dims);
                assert_eq!(
                    bits(&max_pool3x3_forward(x, dims)),
                    bits(&want_out),
                    "{what} {dims:?}"
                );
                assert_eq!(
                    bits(&max_pool3x3_grad(x, &g, dims)),
                    bits(&want_dx),
                    "{what} {dims:?}"
                );
            };
            check(&x, "finite");
            // A NaN and a -inf in the first plane: that plane takes the scalar path.
            x[0] = f32::NAN;
            x[len / (dims[0] * dims[1]) - 1] = f32::NEG_INFINITY;
            let (want_out, _) = reference(&x, &g, dims);
            let got = max_pool3x3_forward(&x, dims);
            assert_eq!(
                got.iter().map(|v| v.is_nan()).collect::<Vec<_>>(),
                want_out.iter().map(|v| v.is_nan()).collect::<Vec<_>>()
            );
            x[0] = f32::INFINITY;
            check(&x, "infinite");
        }
    }
}
