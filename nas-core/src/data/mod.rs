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

//!
//! The module is split along its seams: [`ImageDataset`] and its whole-set operations
//! (`dataset`), IDX and CIFAR parsers (`idx`, `cifar`), augmentation (`augment`), burn
//! batches (`batch`) and the configuration that builds the splits (`config`).

mod augment;
mod batch;
mod cifar;
mod config;
mod dataset;
mod idx;

pub use augment::Augment;
pub use batch::{HostBatch, batch_indices};
pub use cifar::{load_cifar10, load_cifar100, parse_cifar};
pub use config::{DataConfig, DataSource, FASHION_MNIST_DIRS, Splits};
pub use dataset::ImageDataset;
pub use idx::{embedded_fashion_mnist, idx_dataset, load_idx, load_idx_dir, parse_idx};

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
    pub(crate) fn new(file: impl Into<String>, problem: impl Into<String>) -> Self {
        DataError {
            file: file.into(),
            problem: problem.into(),
        }
    }
}
