//! Image data sets in memory, their loaders, splits and augmentation, and seeded
//! mini-batches as burn tensors.
//!
//! Pixels are kept as `f32` in `[channel, height, width]` order per image. Sources:
//!
//! - the embedded Fashion-MNIST subset ([`embedded_fashion_mnist`]), which ships inside
//!   the crate so the default job runs offline;
//! - MNIST / Fashion-MNIST IDX files, raw or gzipped ([`load_idx_dir`]);
//! - CIFAR-10 and CIFAR-100 binary files ([`load_cifar10`], [`load_cifar100`]).
//!
//! [`DataConfig::load`] turns a source into train / validation / test splits, normalised
//! per channel with statistics of the training split.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

    /// Checks that the images have `shape` and their labels fit a `classes`-way classifier.
    pub fn check_fits(&self, shape: [usize; 3], classes: usize) -> Result<(), DataError> {
        if self.shape != shape {
            return Err(DataError::new(
                "data set",
                format!("images are {:?}, the model expects {shape:?}", self.shape),
            ));
        }
        if self.classes > classes {
            return Err(DataError::new(
                "data set",
                format!(
                    "the data have {} classes, the model {classes}",
                    self.classes
                ),
            ));
        }
        Ok(())
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

    /// Every image shrunk by `factor` in height and width, each output pixel the mean
    /// of a `factor x factor` square (trailing rows and columns that do not fill a square
    /// are dropped). A factor of 1 returns a copy.
    pub fn downsample(&self, factor: usize) -> Result<ImageDataset, DataError> {
        let [c, h, w] = self.shape;
        if factor == 0 || factor > h || factor > w {
            return Err(DataError::new(
                "downsample",
                format!(
                    "factor {factor} does not fit {h}x{w} images (use 1 to {})",
                    h.min(w)
                ),
            ));
        }
        let (h2, w2) = (h / factor, w / factor);
        let area = (factor * factor) as f32;
        let mut pixels = Vec::with_capacity(self.len() * c * h2 * w2);
        for img in self.pixels.chunks_exact(c * h * w) {
            for plane in img.chunks_exact(h * w) {
                for y in 0..h2 {
                    for x in 0..w2 {
                        let mut sum = 0.0;
                        for dy in 0..factor {
                            let row = (y * factor + dy) * w + x * factor;
                            sum += plane[row..row + factor].iter().sum::<f32>();
                        }
                        pixels.push(sum / area);
                    }
                }
            }
        }
        Ok(ImageDataset {
            pixels,
            labels: self.labels.clone(),
            shape: [c, h2, w2],
            classes: self.classes,
        })
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

impl ImageDataset {
    /// The images of several data sets of the same shape, one after the other.
    pub fn concat(name: &str, parts: Vec<ImageDataset>) -> Result<ImageDataset, DataError> {
        let first = parts
            .first()
            .ok_or_else(|| DataError::new(name, "the data set is empty"))?;
        let (shape, classes) = (first.shape, first.classes);
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for p in parts {
            if p.shape != shape {
                return Err(DataError::new(
                    name,
                    format!(
                        "parts have different image shapes ({:?} and {shape:?})",
                        p.shape
                    ),
                ));
            }
            pixels.extend(p.pixels);
            labels.extend(p.labels);
        }
        ImageDataset::new(name, pixels, labels, shape, classes)
    }

    /// Splits off `round(len * fraction)` images, chosen by a seeded shuffle, as a
    /// validation set: returns `(train, validation)`, each in the original order.
    pub fn split(
        &self,
        fraction: f64,
        seed: u64,
    ) -> Result<(ImageDataset, ImageDataset), DataError> {
        if !(0.0..1.0).contains(&fraction) || fraction == 0.0 {
            return Err(DataError::new(
                "validation split",
                format!("validation_fraction = {fraction}: must be in (0, 1)"),
            ));
        }
        let n_val = ((self.len() as f64 * fraction).round() as usize).max(1);
        if n_val >= self.len() {
            return Err(DataError::new(
                "validation split",
                format!("{} images are too few to hold out {n_val}", self.len()),
            ));
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed));
        let mut val: Vec<usize> = order[..n_val].to_vec();
        let mut train: Vec<usize> = order[n_val..].to_vec();
        val.sort_unstable();
        train.sort_unstable();
        Ok((self.select(&train), self.select(&val)))
    }

    /// Like [`ImageDataset::batch`], with `augment` applied to each image independently.
    ///
    /// # Shapes
    /// - images: `[indices.len(), channels, height, width]`; labels: `[indices.len()]`
    pub fn batch_augmented<B: Backend, R: Rng + ?Sized>(
        &self,
        indices: &[usize],
        augment: &Augment,
        rng: &mut R,
        device: &B::Device,
    ) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
        if augment.is_identity() {
            return self.batch(indices, device);
        }
        let [c, h, w] = self.shape;
        let size = c * h * w;
        let mut pixels = vec![0f32; indices.len() * size];
        for (out, &i) in pixels.chunks_exact_mut(size).zip(indices) {
            augment.apply(&self.pixels[i * size..(i + 1) * size], out, self.shape, rng);
        }
        let images = Tensor::from_data(TensorData::new(pixels, [indices.len(), c, h, w]), device);
        let labels: Vec<i64> = indices.iter().map(|&i| self.labels[i] as i64).collect();
        let labels = Tensor::from_data(TensorData::new(labels, [indices.len()]), device);
        (images, labels)
    }
}

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

const CIFAR_PIXELS: usize = 3 * 32 * 32;

/// Parses CIFAR binary records: `label_bytes` label bytes (the one at `label_index` is
/// used) then 1024 red, 1024 green and 1024 blue bytes, row-major 32x32. Pixels are
/// scaled to `[0, 1]`.
pub fn parse_cifar(
    name: &str,
    bytes: &[u8],
    label_bytes: usize,
    label_index: usize,
    classes: usize,
) -> Result<ImageDataset, DataError> {
    let record = label_bytes + CIFAR_PIXELS;
    if bytes.is_empty() {
        return Err(DataError::new(name, "the file is empty"));
    }
    if !bytes.len().is_multiple_of(record) {
        return Err(DataError::new(
            name,
            format!(
                "{} bytes is not a whole number of {record}-byte records (truncated after record {})",
                bytes.len(),
                bytes.len() / record
            ),
        ));
    }
    let n = bytes.len() / record;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * CIFAR_PIXELS);
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        let label = r[label_index];
        if label as usize >= classes {
            return Err(DataError::new(
                name,
                format!("record {i}: label {label} is out of range (classes: {classes})"),
            ));
        }
        labels.push(label);
        pixels.extend(r[label_bytes..].iter().map(|&b| b as f32 / 255.0));
    }
    ImageDataset::new(name, pixels, labels, [3, 32, 32], classes)
}

fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path)
        .map_err(|e| DataError::new(path.display().to_string(), format!("cannot read: {e}")))
}

/// `dir/sub` when it exists, else `dir` (accepts a data set folder or its parent).
fn resolve(dir: &Path, sub: &str) -> PathBuf {
    let nested = dir.join(sub);
    if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    }
}

/// CIFAR-10, binary version: `(train, test)` from `data_batch_1.bin` .. `data_batch_5.bin`
/// and `test_batch.bin` in `dir` (or in `dir/cifar-10-batches-bin`).
pub fn load_cifar10(dir: &Path) -> Result<(ImageDataset, ImageDataset), DataError> {
    let dir = resolve(dir, "cifar-10-batches-bin");
    let load = |f: &str| {
        let path = dir.join(f);
        parse_cifar(&path.display().to_string(), &read_file(&path)?, 1, 0, 10)
    };
    let train = (1..=5)
        .map(|i| load(&format!("data_batch_{i}.bin")))
        .collect::<Result<Vec<_>, _>>()?;
    let train = ImageDataset::concat(&dir.display().to_string(), train)?;
    Ok((train, load("test_batch.bin")?))
}

/// CIFAR-100, binary version, fine labels: `(train, test)` from `train.bin` and
/// `test.bin` in `dir` (or in `dir/cifar-100-binary`).
pub fn load_cifar100(dir: &Path) -> Result<(ImageDataset, ImageDataset), DataError> {
    let dir = resolve(dir, "cifar-100-binary");
    let load = |f: &str| {
        let path = dir.join(f);
        parse_cifar(&path.display().to_string(), &read_file(&path)?, 2, 1, 100)
    };
    Ok((load("train.bin")?, load("test.bin")?))
}

/// MNIST or Fashion-MNIST: `(train, test)` from the four IDX files in `dir`
/// (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
/// `t10k-labels-idx1-ubyte`, each raw or with `.gz`).
pub fn load_idx_dir(dir: &Path) -> Result<(ImageDataset, ImageDataset), DataError> {
    let find = |stem: &str| {
        let gz = dir.join(format!("{stem}.gz"));
        if gz.exists() { gz } else { dir.join(stem) }
    };
    let train = load_idx(
        &find("train-images-idx3-ubyte"),
        &find("train-labels-idx1-ubyte"),
        10,
    )?;
    let test = load_idx(
        &find("t10k-images-idx3-ubyte"),
        &find("t10k-labels-idx1-ubyte"),
        10,
    )?;
    Ok((train, test))
}

/// Where the images come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DataSource {
    /// The embedded Fashion-MNIST subset (10,000 train / 2,000 test images).
    #[default]
    Embedded,
    /// MNIST or Fashion-MNIST IDX files in a folder (see [`load_idx_dir`]).
    Idx {
        /// The folder.
        dir: PathBuf,
    },
    /// CIFAR-10 binary files (see [`load_cifar10`]).
    Cifar10 {
        /// The folder.
        dir: PathBuf,
    },
    /// CIFAR-100 binary files (see [`load_cifar100`]).
    Cifar100 {
        /// The folder.
        dir: PathBuf,
    },
}

impl DataSource {
    /// The augmentation that suits the source: crop and flip for CIFAR, none for
    /// (Fashion-)MNIST.
    pub fn default_augment(&self) -> Augment {
        match self {
            DataSource::Cifar10 { .. } | DataSource::Cifar100 { .. } => Augment::CIFAR,
            DataSource::Embedded | DataSource::Idx { .. } => Augment::default(),
        }
    }

    /// `(train files, test files)` as stored.
    pub fn load_raw(&self) -> Result<(ImageDataset, ImageDataset), DataError> {
        match self {
            DataSource::Embedded => embedded_fashion_mnist(),
            DataSource::Idx { dir } => load_idx_dir(dir),
            DataSource::Cifar10 { dir } => load_cifar10(dir),
            DataSource::Cifar100 { dir } => load_cifar100(dir),
        }
    }
}

/// How to build the train / validation / test splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Where the images come from.
    pub source: DataSource,
    /// Fraction of the training files held out for validation (0.1 gives 45k/5k on CIFAR-10).
    pub validation_fraction: f64,
    /// Seed of the validation split.
    pub seed: u64,
    /// Keep at most this many training images (after the split), for quick runs.
    pub train_limit: Option<usize>,
    /// Keep at most this many validation images.
    pub validation_limit: Option<usize>,
    /// Keep at most this many test images.
    pub test_limit: Option<usize>,
    /// Training augmentation; `None` takes the source's default.
    pub augment: Option<Augment>,
    /// Shrink every image by this integer factor (2x2 means for 2), trading accuracy
    /// for CPU time; 1 keeps the images as they are.
    pub downsample: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            source: DataSource::Embedded,
            validation_fraction: 0.1,
            seed: 0,
            train_limit: None,
            validation_limit: None,
            test_limit: None,
            augment: None,
            downsample: 1,
        }
    }
}

/// Normalised train / validation / test splits.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Training images.
    pub train: ImageDataset,
    /// Held-out images from the training files (one-shot scoring uses these).
    pub validation: ImageDataset,
    /// The test files.
    pub test: ImageDataset,
    /// Per-channel mean of the training split, subtracted from every split.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of the training split, divided out of every split.
    pub std: Vec<f32>,
    /// Augmentation for training batches.
    pub augment: Augment,
}

impl DataConfig {
    /// Loads the source, holds out the validation split, applies the limits and
    /// normalises every split with the training split's per-channel statistics.
    pub fn load(&self) -> Result<Splits, DataError> {
        let (train_files, test) = self.source.load_raw()?;
        let (train, validation) = train_files.split(self.validation_fraction, self.seed)?;
        let limit = |d: ImageDataset, l: Option<usize>, what: &str| match l {
            Some(0) => Err(DataError::new(
                what,
                "a limit of 0 images leaves the split empty",
            )),
            Some(n) => Ok(d.head(n)),
            None => Ok(d),
        };
        let mut train = limit(train, self.train_limit, "train_limit")?;
        let mut validation = limit(validation, self.validation_limit, "validation_limit")?;
        let mut test = limit(test, self.test_limit, "test_limit")?;
        if self.downsample != 1 {
            train = train.downsample(self.downsample)?;
            validation = validation.downsample(self.downsample)?;
            test = test.downsample(self.downsample)?;
        }
        let (mean, std) = train.channel_stats();
        for d in [&mut train, &mut validation, &mut test] {
            d.normalize(&mean, &std);
        }
        Ok(Splits {
            train,
            validation,
            test,
            mean,
            std,
            augment: self
                .augment
                .unwrap_or_else(|| self.source.default_augment()),
        })
    }
}
