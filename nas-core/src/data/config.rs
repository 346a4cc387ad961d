//! Where the images come from and how the train / validation / test splits are built.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    Augment, DataError, ImageDataset, embedded_fashion_mnist, load_cifar10, load_cifar100,
    load_idx_dir,
};

/// Where the images come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DataSource {
    /// The embedded Fashion-MNIST subset (10,000 train / 2,000 test images).
    #[default]
    Embedded,
    /// The full Fashion-MNIST: 60,000 training and 10,000 test images, from the four IDX
    /// files (gzipped or not) that Debian's `dataset-fashion-mnist` package installs in
    /// `/usr/share/datasets/fashion-mnist`, or that `scripts/fetch-fashion-mnist.sh`
    /// puts in `data/fashion-mnist` (see [`FASHION_MNIST_DIRS`]).
    FashionMnist {
        /// The folder of the files; without it, the first of [`FASHION_MNIST_DIRS`]
        /// that holds them. Left out of the configuration (and of every result key)
        /// when not given, so runs agree across machines that keep the files in
        /// different places.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dir: Option<PathBuf>,
    },
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
            DataSource::Embedded | DataSource::FashionMnist { .. } | DataSource::Idx { .. } => {
                Augment::default()
            }
        }
    }

    /// `(train files, test files)` as stored.
    pub fn load_raw(&self) -> Result<(ImageDataset, ImageDataset), DataError> {
        match self {
            DataSource::Embedded => embedded_fashion_mnist(),
            DataSource::FashionMnist { dir } => load_idx_dir(&fashion_mnist_dir(dir.as_deref())?),
            DataSource::Idx { dir } => load_idx_dir(dir),
            DataSource::Cifar10 { dir } => load_cifar10(dir),
            DataSource::Cifar100 { dir } => load_cifar100(dir),
        }
    }
}

/// Where [`DataSource::FashionMnist`] looks for the files when no folder is given, in
/// order: Debian's `dataset-fashion-mnist` package, then `scripts/fetch-fashion-mnist.sh`'s
/// folder (relative to the working directory).
pub const FASHION_MNIST_DIRS: [&str; 2] =
    ["/usr/share/datasets/fashion-mnist", "data/fashion-mnist"];

/// The folder of the full Fashion-MNIST: `dir` when given (it must hold the training
/// images), else the first of [`FASHION_MNIST_DIRS`] that holds them.
fn fashion_mnist_dir(dir: Option<&Path>) -> Result<PathBuf, DataError> {
    let has_files = |d: &Path| {
        ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"]
            .iter()
            .any(|f| d.join(f).is_file())
    };
    let how = "install Debian's package (`apt-get install dataset-fashion-mnist`), or run \
               scripts/fetch-fashion-mnist.sh, or give the folder as \
               data.source = { kind = \"fashion-mnist\", dir = \"...\" }";
    match dir {
        Some(d) if has_files(d) => Ok(d.to_path_buf()),
        Some(d) => Err(DataError::new(
            d.display().to_string(),
            format!("no Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz]) here: {how}"),
        )),
        None => FASHION_MNIST_DIRS
            .iter()
            .map(Path::new)
            .find(|d| has_files(d))
            .map(Path::to_path_buf)
            .ok_or_else(|| {
                DataError::new(
                    "data.source = fashion-mnist",
                    format!(
                        "the full Fashion-MNIST is in neither {}: {how}",
                        FASHION_MNIST_DIRS.join(" nor ")
                    ),
                )
            }),
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
