//! Labelled images in memory and the operations on a whole set: selection, splits,
//! down-sampling and per-channel normalisation.

use rand::seq::SliceRandom;

use super::DataError;

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

    pub(crate) fn image_size(&self) -> usize {
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
}
