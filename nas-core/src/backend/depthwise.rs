//! The depthwise convolution's kernels on the CPU backends: the forward (also the input
//! gradient's convolution) and the weight gradient.
//!
//! The networks' images are small (7x7 to 28x28), so a kernel that walks one output row at
//! a time spends most of its time on row set-up and loop tails: a 14-wide row is one
//! 8-lane vector and six scalar steps, once per tap. Here each plane is first copied into a
//! zero-bordered buffer `w + k_w - 1` wide; in that buffer's coordinates every tap is one
//! multiply-add of a weight by a contiguous run of `h x (w + k_w - 1)` values, the whole
//! plane at once (the extra columns are computed and dropped). The loop is compiled for
//! AVX2 as well as the baseline and picked at run time.
//!
//! Each output is summed over the taps in row-major order from zero, one multiplication
//! and one addition per tap (no fused multiply-add), exactly as burn's Flex kernel sums:
//! the taps that fall on the zero border add `t * 0 = ±0`, which leaves every sum
//! unchanged. So the results are bit for bit those of Flex's kernel, whatever the CPU's
//! vector width and the number of threads.

use rayon::prelude::*;

/// Stride-1, same-padded depthwise convolution of `x` (`[n, c, h, w]`, row-major) by
/// `weight` (`[c, 1, k_h, k_w]`, odd `k_h` and `k_w`, padding `k / 2`): the output has
/// `x`'s shape. Planes run in parallel.
pub fn depthwise_forward(
    x: &[f32],
    weight: &[f32],
    [n, c, h, w]: [usize; 4],
    [kh, kw]: [usize; 2],
) -> Vec<f32> {
    let plane = h * w;
    let taps = kh * kw;
    assert_eq!(x.len(), n * c * plane, "depthwise input length");
    assert_eq!(weight.len(), c * taps, "depthwise weight length");
    let mut out = vec![0f32; n * c * plane];
    if plane == 0 || taps == 0 {
        return out;
    }
    let (ph, pw) = (kh / 2, kw / 2);
    let wide = w + kw - 1;
    // The last tap's run reaches `kw - 1` values past the padded plane (into dropped
    // columns only), so the buffer has that much slack.
    let padded_len = (h + kh - 1) * wide + kw - 1;
    out.par_chunks_mut(plane).enumerate().for_each_init(
        || (vec![0f32; padded_len], vec![0f32; h * wide]),
        |(padded, acc), (bc, o)| {
            let src = &x[bc * plane..(bc + 1) * plane];
            // Only the interior is ever written: the border stays zero across planes.
            for (y, row) in src.chunks_exact(w).enumerate() {
                let at = (y + ph) * wide + pw;
                padded[at..at + w].copy_from_slice(row);
            }
            acc.fill(0.0);
            let ch = bc % c;
            accumulate(acc, padded, &weight[ch * taps..(ch + 1) * taps], kw, wide);
            for (y, row) in o.chunks_exact_mut(w).enumerate() {
                row.copy_from_slice(&acc[y * wide..y * wide + w]);
            }
        },
    );
    out
}

/// `acc[i] += t * padded[offset(t) + i]` for every tap `t` in row-major order.
#[inline(always)]
fn accumulate_body(acc: &mut [f32], padded: &[f32], taps: &[f32], kw: usize, wide: usize) {
    let len = acc.len();
    for (tap, &t) in taps.iter().enumerate() {
        let offset = (tap / kw) * wide + tap % kw;
        let run = &padded[offset..offset + len];
        for (a, &v) in acc.iter_mut().zip(run) {
            *a += t * v;
        }
    }
}

/// [`accumulate_body`] compiled for the widest vectors this CPU has (AVX2 where there
/// is one; pulp picks at run time). Rust never fuses the multiplication and the addition,
/// whatever the target features, so every variant gives the same bits.
fn accumulate(acc: &mut [f32], padded: &[f32], taps: &[f32], kw: usize, wide: usize) {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || accumulate_body(acc, padded, taps, kw, wide),
    )
}

/// The weight gradient of a stride-1, same-padded depthwise convolution, directly:
/// `dw[c, i, j] = sum over n, y, x of g[n, c, y, x] * x[n, c, y + i - k_h/2, x + j - k_w/2]`
/// (zero outside the image). Channels run in parallel; each sums in a fixed order, so the
/// result does not depend on the number of threads.
pub fn depthwise_weight_grad(
    x: &[f32],
    g: &[f32],
    [n, c, h, w]: [usize; 4],
    [kh, kw]: [usize; 2],
) -> Vec<f32> {
    let plane = h * w;
    let (ph, pw) = ((kh / 2) as isize, (kw / 2) as isize);
    let per_channel = |ch: usize| {
        let mut acc = vec![0f32; kh * kw];
        for b in 0..n {
            let base = (b * c + ch) * plane;
            let xp = &x[base..base + plane];
            let gp = &g[base..base + plane];
            for i in 0..kh {
                let dy = i as isize - ph;
                // Output rows y whose input row y + dy is inside the image.
                let y0 = (-dy).max(0) as usize;
                let y1 = (h as isize - dy).min(h as isize).max(0) as usize;
                for j in 0..kw {
                    let dx = j as isize - pw;
                    let x0 = (-dx).max(0) as usize;
                    let x1 = (w as isize - dx).min(w as isize).max(0) as usize;
                    if x0 >= x1 {
                        continue;
                    }
                    let mut sum = 0f32;
                    for y in y0..y1 {
                        let sy = (y as isize + dy) as usize;
                        let grow = &gp[y * w + x0..y * w + x1];
                        let start = (sy * w) as isize + x0 as isize + dx;
                        let xrow = &xp[start as usize..start as usize + (x1 - x0)];
                        sum += dot(grow, xrow);
                    }
                    acc[i * kw + j] += sum;
                }
            }
        }
        acc
    };
    (0..c)
        .into_par_iter()
        .map(per_channel)
        .collect::<Vec<_>>()
        .concat()
}

/// A dot product the compiler vectorises: eight independent partial sums.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += xa[k] * xb[k];
        }
    }
    let mut sum: f32 = lanes.iter().sum();
    for (p, q) in ra.iter().zip(rb) {
        sum += p * q;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook definition, summing taps in row-major order from zero and skipping
    /// those outside the image.
    fn reference(
        x: &[f32],
        wt: &[f32],
        [n, c, h, w]: [usize; 4],
        [kh, kw]: [usize; 2],
    ) -> Vec<f32> {
        let mut out = vec![0f32; x.len()];
        for b in 0..n {
            for ch in 0..c {
                let base = (b * c + ch) * h * w;
                for y in 0..h {
                    for xx in 0..w {
                        let mut s = 0f32;
                        for i in 0..kh {
                            for j in 0..kw {
                                let (sy, sx) = (y + i, xx + j);
                                if sy < kh / 2 || sx < kw / 2 {
                                    continue;
                                }
                                let (sy, sx) = (sy - kh / 2, sx - kw / 2);
                                if sy >= h || sx >= w {
                                    continue;
                                }
                                s += wt[ch * kh * kw + i * kw + j] * x[base + sy * w + sx];
                            }
                        }
                        out[base + y * w + xx] = s;
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        // A small LCG: signed values of varied magnitude, some exact zeros.
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if i % 11 == 0 {
                    0.0
                } else {
                    ((s >> 8) as f32 / (1 << 24) as f32 - 0.5) * 3.0
                }
            })
            .collect()
    }

    #[test]
    fn every_variant_matches_the_definition_bit_for_bit() {
        for (dims, kernel) in [
            ([2, 3, 14, 14], [3, 3]),
            ([1, 2, 7, 7], [5, 5]),
            ([2, 2, 28, 28], [7, 7]),
            ([1, 3, 5, 9], [1, 7]),
            ([1, 3, 9, 5], [7, 1]),
            ([1, 1, 1, 1], [3, 3]),
            ([3, 1, 2, 3], [5, 3]),
        ] {
            let [n, c, h, w] = dims;
            let x = values(n * c * h * w, 1);
            let wt = values(c * kernel[0] * kernel[1], 2);
            let want = reference(&x, &wt, dims, kernel);
            let got = depthwise_forward(&x, &wt, dims, kernel);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{dims:?} {kernel:?}");
            // The body without dispatch (the baseline build) too, whatever this CPU picks.
            let (ph, pw) = (kernel[0] / 2, kernel[1] / 2);
            let wide = w + kernel[1] - 1;
            let mut padded = vec![0f32; (h + kernel[0] - 1) * wide + kernel[1] - 1];
            for y in 0..h {
                padded[(y + ph) * wide + pw..][..w].copy_from_slice(&x[y * w..][..w]);
            }
            let mut acc = vec![0f32; h * wide];
            accumulate_body(
                &mut acc,
                &padded,
                &wt[..kernel[0] * kernel[1]],
                kernel[1],
                wide,
            );
            for y in 0..h {
                assert_eq!(
                    bits(&acc[y * wide..][..w]),
                    bits(&want[y * w..][..w]),
                    "baseline"
                );
            }
        }
    }
}
