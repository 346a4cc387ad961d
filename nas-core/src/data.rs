//! Image data sets in memory and seeded mini-batches as burn tensors.
//!
//! Pixels are kept as `f32` in `[channel, height, width]` order per image. The embedded
//! Fashion-MNIST subset ([`embedded_fashion_mnist`]) ships inside the crate, so the
//! default job runs offline.

use std::io::Read;
use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;
use rand::seq::SliceRandom;
use thiserror::Error;

/// A problem with a data file or a data set.
#[derive(Debug, Error)]
#[error("{file}: {problem}")]
pub struct DataError {
    /// The file (or data set) concerned.
    pub file: String,
    /// What is wrong with it.
    pub problem: String,
}

impl DataError {
    fn new(file: impl Into<String>, problem: impl Into<String>) -> Self {
        DataError {
            file: file.into(),
            problem: problem.into(),
        }
    }
}

/// Labelled images held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDataset {
    /// Pixels, image after image, each `[channels, height, width]`.
    pub pixels: Vec<f32>,
    /// One label per image, below `classes`.
    pub labels: Vec<u8>,
    /// `[channels, height, width]` of every image.
    pub shape: [usize; 3],
    /// Number of classes.
    pub classes: usize,
}

impl ImageDataset {
    /// Builds a data set, checking sizes and labels. `name` is used in errors.
    pub fn new(
        name: &str,
        pixels: Vec<f32>,
        labels: Vec<u8>,
        shape: [usize; 3],
        classes: usize,
    ) -> Result<Self, DataError> {
        let size: usize = shape.iter().product();
        if size == 0 {
            return Err(DataError::new(
                name,
                format!("image shape {shape:?} has a zero dimension"),
            ));
        }
        if labels.is_empty() {
            return Err(DataError::new(name, "the data set is empty"));
        }
        if pixels.len() != labels.len() * size {
            return Err(DataError::new(
                name,
                format!(
                    "{} labels but {} images of shape {shape:?}",
                    labels.len(),
                    pixels.len() as f64 / size as f64
                ),
            ));
        }
        if let Some((i, l)) = labels
            .iter()
            .enumerate()
            .find(|(_, l)| **l as usize >= classes)
        {
            return Err(DataError::new(
                name,
                format!("label {l} of example {i} is out of range (classes: {classes})"),
            ));
        }
        Ok(ImageDataset {
            pixels,
            labels,
            shape,
            classes,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images (never true for a data set built by [`ImageDataset::new`]).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn image_size(&self) -> usize {
        self.shape.iter().product()
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> ImageDataset {
        let size = self.image_size();
        let mut pixels = Vec::with_capacity(indices.len() * size);
        for &i in indices {
            pixels.extend_from_slice(&self.pixels[i * size..(i + 1) * size]);
        }
        ImageDataset {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            shape: self.shape,
            classes: self.classes,
        }
    }

    /// The first `n` images (all of them if there are fewer).
    pub fn head(&self, n: usize) -> ImageDataset {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.select(&idx)
    }

    /// Per-channel mean and standard deviation of the pixels.
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = self.shape;
        let plane = h * w;
        let mut mean = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for img in self.pixels.chunks_exact(c * plane) {
            for ch in 0..c {
                for &p in &img[ch * plane..(ch + 1) * plane] {
                    mean[ch] += p as f64;
                    sq[ch] += (p as f64) * (p as f64);
                }
            }
        }
        let n = (self.len() * plane) as f64;
        let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / n - m * m).max(0.0).sqrt().max(1e-6)) as f32)
            .collect();
        (mean.into_iter().map(|m| m as f32).collect(), std)
    }

    /// Subtracts `mean` and divides by `std`, per channel.
    pub fn normalize(&mut self, mean: &[f32], std: &[f32]) {
        let [c, h, w] = self.shape;
        let plane = h * w;
        for img in self.pixels.chunks_exact_mut(c * plane) {
            for ch in 0..c {
                for p in &mut img[ch * plane..(ch + 1) * plane] {
                    *p = (*p - mean[ch]) / std[ch];
                }
            }
        }
    }

    /// The images at `indices` as a batch on `device`.
    ///
    /// # Shapes
    /// - images: `[indices.len(), channels, height, width]`; labels: `[indices.len()]`
    pub fn batch<B: Backend>(
        &self,
        indices: &[usize],
        device: &B::Device,
    ) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
        let size = self.image_size();
        let mut pixels = Vec::with_capacity(indices.len() * size);
        for &i in indices {
            pixels.extend_from_slice(&self.pixels[i * size..(i + 1) * size]);
        }
        let [c, h, w] = self.shape;
        let images = Tensor::from_data(TensorData::new(pixels, [indices.len(), c, h, w]), device);
        let labels: Vec<i64> = indices.iter().map(|&i| self.labels[i] as i64).collect();
        let labels = Tensor::from_data(TensorData::new(labels, [indices.len()]), device);
        (images, labels)
    }
}

/// Index lists of consecutive mini-batches over `0..n`, shuffled when `rng` is given.
/// With `drop_last`, a final short batch is left out (so every step has the same size).
pub fn batch_indices<R: Rng + ?Sized>(
    n: usize,
    batch_size: usize,
    drop_last: bool,
    rng: Option<&mut R>,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    if let Some(rng) = rng {
        order.shuffle(rng);
    }
    order
        .chunks(batch_size.max(1))
        .filter(|c| !drop_last || c.len() == batch_size)
        .map(<[usize]>::to_vec)
        .collect()
}

fn gunzip_if_needed(name: &str, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| DataError::new(name, format!("cannot decompress gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

/// Parses an IDX file (raw or gzipped) of unsigned bytes; returns its dimensions and payload.
pub fn parse_idx(
    name: &str,
    bytes: &[u8],
    expected_dims: usize,
) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let bytes = gunzip_if_needed(name, bytes)?;
    if bytes.len() < 4 {
        return Err(DataError::new(name, "too short for an IDX header"));
    }
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        return Err(DataError::new(
            name,
            format!(
                "bad IDX magic {:02x} {:02x} {:02x} {:02x} (expected 00 00 08 0{expected_dims}: unsigned bytes)",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim != expected_dims {
        return Err(DataError::new(
            name,
            format!("IDX file has {ndim} dimensions, expected {expected_dims}"),
        ));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(DataError::new(name, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|d| {
            let o = 4 + 4 * d;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected: usize = dims.iter().product();
    let payload = &bytes[header..];
    if payload.len() != expected {
        return Err(DataError::new(
            name,
            format!(
                "IDX dimensions {dims:?} need {expected} bytes of data, the file has {}{}",
                payload.len(),
                if payload.len() < expected {
                    " (truncated)"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok((dims, payload.to_vec()))
}

/// Builds a data set from the bytes of an IDX image file and an IDX label file
/// (MNIST / Fashion-MNIST layout, raw or gzipped). Pixels are scaled to `[0, 1]`.
pub fn idx_dataset(
    images_name: &str,
    images: &[u8],
    labels_name: &str,
    labels: &[u8],
    classes: usize,
) -> Result<ImageDataset, DataError> {
    let (dims, pixels) = parse_idx(images_name, images, 3)?;
    let (ldims, labels) = parse_idx(labels_name, labels, 1)?;
    if dims[0] != ldims[0] {
        return Err(DataError::new(
            images_name,
            format!(
                "{} images but {labels_name} has {} labels",
                dims[0], ldims[0]
            ),
        ));
    }
    let pixels = pixels.into_iter().map(|p| p as f32 / 255.0).collect();
    ImageDataset::new(images_name, pixels, labels, [1, dims[1], dims[2]], classes)
        .map_err(|e| DataError::new(format!("{images_name} + {labels_name}"), e.problem))
}

/// Reads an IDX image/label file pair from disk (see [`idx_dataset`]).
pub fn load_idx(images: &Path, labels: &Path, classes: usize) -> Result<ImageDataset, DataError> {
    let read = |p: &Path| {
        std::fs::read(p)
            .map_err(|e| DataError::new(p.display().to_string(), format!("cannot read: {e}")))
    };
    idx_dataset(
        &images.display().to_string(),
        &read(images)?,
        &labels.display().to_string(),
        &read(labels)?,
        classes,
    )
}

/// The embedded Fashion-MNIST subset: `(train, test)`, 10,000 and 2,000 images of 28x28,
/// class-balanced, pixels in `[0, 1]` (see `nas-core/data/fashion-mnist-subset/README.md`).
pub fn embedded_fashion_mnist() -> Result<(ImageDataset, ImageDataset), DataError> {
    macro_rules! file {
        ($f:literal) => {
            (
                concat!("embedded:", $f),
                include_bytes!(concat!("../data/fashion-mnist-subset/", $f)).as_slice(),
            )
        };
    }
    let (tin, ti) = file!("train-images-idx3-ubyte.gz");
    let (tln, tl) = file!("train-labels-idx1-ubyte.gz");
    let (ein, ei) = file!("test-images-idx3-ubyte.gz");
    let (eln, el) = file!("test-labels-idx1-ubyte.gz");
    Ok((
        idx_dataset(tin, ti, tln, tl, 10)?,
        idx_dataset(ein, ei, eln, el, 10)?,
    ))
}
