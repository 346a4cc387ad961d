//! CIFAR-10 and CIFAR-100 binary files.

use std::path::{Path, PathBuf};

use super::{DataError, ImageDataset};

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
