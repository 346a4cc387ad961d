//! Mini-batches: seeded index lists and images as burn tensors.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;
use rand::seq::SliceRandom;

use super::{Augment, ImageDataset};

impl ImageDataset {
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

impl ImageDataset {
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
