//! MNIST / Fashion-MNIST IDX files (raw or gzipped) and the embedded subset.

use std::io::Read;
use std::path::Path;

use super::{DataError, ImageDataset};

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
    let Some(expected) = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) else {
        return Err(DataError::new(
            name,
            format!("IDX dimensions {dims:?} describe more bytes than any file holds"),
        ));
    };
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
                include_bytes!(concat!("../../data/fashion-mnist-subset/", $f)).as_slice(),
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
