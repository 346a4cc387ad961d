//! The columns of a dense convolution with stride 1 (im2col), copied directly.
//!
//! A convolution with stride 1 is a matrix product of the weight (`[c_out, c_in * k_h *
//! k_w]`) by these columns (`[c_in * k_h * k_w, L]` per image, `L` output positions): row
//! `(i, a, b)` holds input channel `i` shifted by kernel tap `(a, b)`, zero where the tap
//! falls on the padding. Each row is a set of contiguous runs of the input plane, so it is
//! filled with plain copies; Flex's general convolution path builds the same matrix through
//! a strided iterator, several times slower at this network's sizes (1x7, 7x1 and 3x3
//! kernels on 7x7 to 28x28 planes). Only copies: the result does not depend on the thread
//! count.

use rayon::prelude::*;

/// The output plane `[h_out, w_out]` of a stride-1 convolution of a `[h, w]` plane with
/// kernel `[k_h, k_w]` and padding `[p_h, p_w]`, or `None` where the kernel is larger
/// than the padded plane.
pub fn output_plane(
    plane: [usize; 2],
    kernel: [usize; 2],
    padding: [usize; 2],
) -> Option<[usize; 2]> {
    let side = |s: usize, k: usize, p: usize| (s + 2 * p).checked_sub(k).map(|d| d + 1);
    Some([
        side(plane[0], kernel[0], padding[0])?,
        side(plane[1], kernel[1], padding[1])?,
    ])
}

/// The columns of `x` (`[n, c, h, w]`, row-major) for a stride-1, dilation-1 convolution:
/// `[n, c * k_h * k_w, h_out * w_out]`, rows in the weight's order (channel, kernel row,
/// kernel column), as burn's `unfold4d`. Panics where [`output_plane`] is `None`.
pub fn columns(x: &[f32], dims: [usize; 4], kernel: [usize; 2], padding: [usize; 2]) -> Vec<f32> {
    let [n, c, h, w] = dims;
    let [ho, wo] = output_plane([h, w], kernel, padding).expect("kernel fits the padded plane");
    let per_image = c * kernel[0] * kernel[1] * ho * wo;
    let mut cols = vec![0f32; n * per_image];
    if per_image > 0 {
        cols.par_chunks_mut(per_image)
            .zip(x.par_chunks(c * h * w))
            .for_each(|(out, image)| image_columns(image, [c, h, w], kernel, padding, out));
    }
    cols
}

/// A stride-1, dilation-1 dense convolution of `x` (`[n, c_in, h, w]`) by `weight`
/// (`[c_out, c_in, k_h, k_w]`), no bias: `[n, c_out, h_out, w_out]`. Per image, in parallel
/// over images: its columns into a buffer that stays in cache, then one matrix product
/// (the `gemm` crate, which Flex's matrix products use too, on one thread: the sums do not
/// depend on the thread count). Panics where [`output_plane`] is `None`.
pub fn conv2d(
    x: &[f32],
    dims: [usize; 4],
    weight: &[f32],
    weight_dims: [usize; 4],
    padding: [usize; 2],
) -> Vec<f32> {
    let [n, c, h, w] = dims;
    let [co, ci, kh, kw] = weight_dims;
    assert_eq!(c, ci, "input channels");
    let [ho, wo] = output_plane([h, w], [kh, kw], padding).expect("kernel fits the padded plane");
    let (k, l) = (c * kh * kw, ho * wo);
    let mut out = vec![0f32; n * co * l];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(co * l)
        .zip(x.par_chunks(c * h * w))
        .for_each_init(
            || vec![0f32; k * l],
            |buf, (out, image)| {
                buf.fill(0.0);
                image_columns(image, [c, h, w], [kh, kw], padding, buf);
                assert!(out.len() == co * l && weight.len() == co * k && buf.len() == k * l);
                // SAFETY: the lengths were checked just above: `out` is `co x l`, `weight`
                // `co x k` and `buf` `k x l`, all row-major (column stride 1, row stride
                // the row's length), so every index gemm forms is in bounds; `out` is a
                // unique borrow and aliases neither input.
                #[allow(unsafe_code)]
                unsafe {
                    gemm::gemm(
                        co,
                        l,
                        k,
                        out.as_mut_ptr(),
                        1,
                        l as isize,
                        false,
                        weight.as_ptr(),
                        1,
                        k as isize,
                        buf.as_ptr(),
                        1,
                        l as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            },
        );
    out
}

/// The columns of one image (`[c, h, w]`) into `out` (`[c * k_h * k_w, h_out * w_out]`),
/// which must hold zeros where taps fall on the padding (only the rest is written).
fn image_columns(
    image: &[f32],
    [c, h, w]: [usize; 3],
    [kh, kw]: [usize; 2],
    [ph, pw]: [usize; 2],
    out: &mut [f32],
) {
    let [ho, wo] = output_plane([h, w], [kh, kw], [ph, pw]).expect("kernel fits the padded plane");
    let (plane, out_plane) = (h * w, ho * wo);
    for (i, src) in image.chunks_exact(plane).take(c).enumerate() {
        for a in 0..kh {
            for b in 0..kw {
                let row = &mut out[((i * kh + a) * kw + b) * out_plane..][..out_plane];
                // Output column `ox` reads input column `ox + b - pw`: the range of `ox`
                // whose source lies inside the plane.
                let x0 = pw.saturating_sub(b).min(wo);
                let x1 = (w + pw).saturating_sub(b).min(wo).max(x0);
                if x1 == x0 {
                    continue;
                }
                for oy in 0..ho {
                    let Some(sy) = (oy + a).checked_sub(ph).filter(|&s| s < h) else {
                        continue;
                    };
                    let s = sy * w + x0 + b - pw;
                    row[oy * wo + x0..oy * wo + x1].copy_from_slice(&src[s..s + (x1 - x0)]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one value at a time.
    fn naive(
        x: &[f32],
        [n, c, h, w]: [usize; 4],
        [kh, kw]: [usize; 2],
        [ph, pw]: [usize; 2],
    ) -> Vec<f32> {
        let [ho, wo] = output_plane([h, w], [kh, kw], [ph, pw]).unwrap();
        let mut out = Vec::new();
        for img in 0..n {
            for i in 0..c {
                for a in 0..kh {
                    for b in 0..kw {
                        for oy in 0..ho {
                            for ox in 0..wo {
                                let (sy, sx) = (oy + a, ox + b);
                                let v = if sy < ph || sx < pw || sy - ph >= h || sx - pw >= w {
                                    0.0
                                } else {
                                    x[((img * c + i) * h + sy - ph) * w + sx - pw]
                                };
                                out.push(v);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn columns_match_the_definition() {
        for (dims, kernel, padding) in [
            ([2, 3, 5, 6], [1, 7], [0, 3]),
            ([2, 3, 6, 5], [7, 1], [3, 0]),
            ([1, 2, 4, 4], [3, 3], [1, 1]),
            ([3, 1, 7, 7], [3, 3], [0, 0]),
            ([1, 2, 3, 3], [5, 5], [2, 2]),
            ([1, 1, 2, 9], [1, 7], [0, 3]),
            ([2, 2, 4, 4], [3, 3], [2, 2]),
        ] {
            let len = dims.iter().product::<usize>();
            let x: Vec<f32> = (0..len).map(|v| v as f32 + 1.0).collect();
            assert_eq!(
                columns(&x, dims, kernel, padding),
                naive(&x, dims, kernel, padding),
                "{dims:?} {kernel:?} {padding:?}"
            );
        }
    }

    #[test]
    fn conv2d_matches_the_definition() {
        for (dims, co, kernel, padding) in [
            ([2, 3, 5, 6], 4, [1, 7], [0, 3]),
            ([3, 2, 6, 5], 3, [7, 1], [3, 0]),
            ([2, 4, 7, 7], 5, [3, 3], [1, 1]),
            ([1, 2, 4, 4], 2, [3, 3], [0, 0]),
        ] {
            let [n, c, h, w] = dims;
            let [kh, kw] = kernel;
            let x: Vec<f32> = (0..n * c * h * w)
                .map(|v| ((v * 7 % 11) as f32 - 5.0) / 4.0)
                .collect();
            let weight: Vec<f32> = (0..co * c * kh * kw)
                .map(|v| ((v * 5 % 13) as f32 - 6.0) / 8.0)
                .collect();
            let cols = naive(&x, dims, kernel, padding);
            let [ho, wo] = output_plane([h, w], kernel, padding).unwrap();
            let (k, l) = (c * kh * kw, ho * wo);
            let got = conv2d(&x, dims, &weight, [co, c, kh, kw], padding);
            for img in 0..n {
                for o in 0..co {
                    for p in 0..l {
                        let want: f64 = (0..k)
                            .map(|r| weight[o * k + r] as f64 * cols[(img * k + r) * l + p] as f64)
                            .sum();
                        let v = got[(img * co + o) * l + p] as f64;
                        assert!(
                            (v - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "{dims:?} {kernel:?}: {v} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_kernel_larger_than_the_padded_plane_has_no_output() {
        assert_eq!(output_plane([3, 3], [5, 5], [0, 0]), None);
        assert_eq!(output_plane([3, 3], [5, 5], [1, 1]), Some([1, 1]));
    }
}
