//! Mini-batches: seeded index lists and images as burn tensors.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;
use rand::seq::SliceRandom;

use super::{Augment, ImageDataset};

/// A mini-batch in host memory, ready to be put on a device. Training builds the next
/// one on another thread while the current step runs.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// Pixels, image after image, `[len, channels, height, width]` row-major.
    pub pixels: Vec<f32>,
    /// The label of each image.
    pub labels: Vec<i64>,
    /// `[channels, height, width]` of each image.
    pub shape: [usize; 3],
}

impl HostBatch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch has no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The batch as tensors on `device`.
    ///
    /// # Shapes
    /// - images: `[len, channels, height, width]`; labels: `[len]`
    pub fn to_device<B: Backend>(self, device: &B::Device) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
        let n = self.len();
        let [c, h, w] = self.shape;
        let images = Tensor::from_data(TensorData::new(self.pixels, [n, c, h, w]), device);
        let labels = Tensor::from_data(TensorData::new(self.labels, [n]), device);
        (images, labels)
    }
}

impl ImageDataset {
    /// The images at `indices`, in host memory.
    pub fn host_batch(&self, indices: &[usize]) -> HostBatch {
        let size = self.image_size();
        let mut pixels = Vec::with_capacity(indices.len() * size);
        for &i in indices {
            pixels.extend_from_slice(&self.pixels[i * size..(i + 1) * size]);
        }
        self.with_labels(indices, pixels)
    }

    /// Like [`ImageDataset::host_batch`], with `augment` applied to each image
    /// independently, drawing from `rng`.
    pub fn host_batch_augmented<R: Rng + ?Sized>(
        &self,
        indices: &[usize],
        augment: &Augment,
        rng: &mut R,
    ) -> HostBatch {
        if augment.is_identity() {
            return self.host_batch(indices);
        }
        let size = self.image_size();
        let mut pixels = vec![0f32; indices.len() * size];
        for (out, &i) in pixels.chunks_exact_mut(size).zip(indices) {
            augment.apply(&self.pixels[i * size..(i + 1) * size], out, self.shape, rng);
        }
        self.with_labels(indices, pixels)
    }

    fn with_labels(&self, indices: &[usize], pixels: Vec<f32>) -> HostBatch {
        HostBatch {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i] as i64).collect(),
            shape: self.shape,
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
        self.host_batch(indices).to_device(device)
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
        self.host_batch_augmented(indices, augment, rng)
            .to_device(device)
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
