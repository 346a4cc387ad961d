//! Data tests: loaders on real files, splits, normalisation, augmentation, batching, and
//! a clear error for every kind of bad file.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::backend::Flex;
use nas_core::data::{
    Augment, DataConfig, DataSource, ImageDataset, embedded_fashion_mnist, idx_dataset,
    load_cifar10, load_idx, load_idx_dir, parse_cifar,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cifar10_test_first20.bin"
);
const LABELS: [u8; 20] = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6];

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nas-core-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::File::create(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn idx(magic3: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 0x08, magic3];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(payload);
    v
}

fn err_text<T: std::fmt::Debug>(r: Result<T, nas_core::data::DataError>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn cifar10_fixture_labels_and_pixels() {
    let bytes = std::fs::read(FIXTURE).unwrap();
    let d = parse_cifar("fixture", &bytes, 1, 0, 10).unwrap();
    assert_eq!(d.len(), 20);
    assert_eq!(d.shape, [3, 32, 32]);
    assert_eq!(d.labels, LABELS);
    // Pixel values read from the file with an independent script: image 0 has red 158 at
    // (0, 0), green 112 and blue 49 at (0, 0), red 21 at (31, 31), blue 41 at (5, 7).
    let px =
        |img: usize, ch: usize, y: usize, x: usize| d.pixels[img * 3072 + ch * 1024 + y * 32 + x];
    let close = |a: f32, b: u8| (a - b as f32 / 255.0).abs() < 1e-6;
    assert!(close(px(0, 0, 0, 0), 158));
    assert!(close(px(0, 1, 0, 0), 112));
    assert!(close(px(0, 2, 0, 0), 49));
    assert!(close(px(0, 0, 31, 31), 21));
    assert!(close(px(0, 2, 5, 7), 41));
    assert!(close(px(1, 0, 0, 0), 235));
    assert!(close(px(19, 0, 31, 31), 215));
    assert!(close(px(19, 2, 5, 7), 36));
}

#[test]
fn cifar10_folder_layouts_load() {
    let bytes = std::fs::read(FIXTURE).unwrap();
    let root = scratch("cifar-layout");
    let dir = root.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 1..=5 {
        write(&dir.join(format!("data_batch_{i}.bin")), &bytes[..4 * 3073]);
    }
    write(&dir.join("test_batch.bin"), &bytes);
    for path in [&root, &dir] {
        let (train, test) = load_cifar10(path).unwrap();
        assert_eq!((train.len(), test.len()), (20, 20));
        assert_eq!(&train.labels[..4], &LABELS[..4]);
    }
    std::fs::remove_file(dir.join("data_batch_3.bin")).unwrap();
    let msg = err_text(load_cifar10(&root));
    assert!(
        msg.contains("data_batch_3.bin") && msg.contains("cannot read"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn missing_file_is_named() {
    let msg = err_text(load_idx(
        Path::new("/nonexistent/train-images"),
        Path::new("/nonexistent/l"),
        10,
    ));
    assert!(
        msg.contains("/nonexistent/train-images") && msg.contains("cannot read"),
        "{msg}"
    );
    let msg = err_text(load_idx_dir(Path::new("/nonexistent-dir")));
    assert!(msg.contains("train-images-idx3-ubyte"), "{msg}");
}

#[test]
fn truncated_files_are_rejected() {
    let images = idx(3, &[10, 28, 28], &vec![0u8; 9 * 784]);
    let labels = idx(1, &[10], &[0u8; 10]);
    let msg = err_text(idx_dataset("imgs", &images, "lbls", &labels, 10));
    assert!(msg.contains("imgs") && msg.contains("truncated"), "{msg}");
    let msg = err_text(idx_dataset("imgs", &images[..10], "lbls", &labels, 10));
    assert!(msg.contains("truncated IDX header"), "{msg}");
    let bytes = std::fs::read(FIXTURE).unwrap();
    let msg = err_text(parse_cifar("c10", &bytes[..2 * 3073 - 5], 1, 0, 10));
    assert!(
        msg.contains("c10") && msg.contains("truncated after record 1"),
        "{msg}"
    );
}

#[test]
fn wrong_idx_magic_or_dimensions_are_rejected() {
    let labels = idx(1, &[2], &[0, 1]);
    let mut bad = idx(3, &[2, 2, 2], &[0u8; 8]);
    bad[2] = 0x0D; // float data, not unsigned bytes
    let msg = err_text(idx_dataset("imgs", &bad, "lbls", &labels, 10));
    assert!(msg.contains("bad IDX magic"), "{msg}");
    // A label file given where images are expected.
    let msg = err_text(idx_dataset("imgs", &labels, "lbls", &labels, 10));
    assert!(msg.contains("1 dimensions, expected 3"), "{msg}");
    // Not IDX at all.
    let msg = err_text(idx_dataset("imgs", b"hello world", "lbls", &labels, 10));
    assert!(msg.contains("bad IDX magic"), "{msg}");
    // Gzip that does not decompress.
    let msg = err_text(idx_dataset(
        "imgs",
        &[0x1f, 0x8b, 1, 2, 3],
        "lbls",
        &labels,
        10,
    ));
    assert!(msg.contains("decompress"), "{msg}");
}

#[test]
fn labels_out_of_range_are_rejected() {
    let images = idx(3, &[2, 2, 2], &[0u8; 8]);
    let labels = idx(1, &[2], &[3, 12]);
    let msg = err_text(idx_dataset("imgs", &images, "lbls", &labels, 10));
    assert!(msg.contains("label 12 of example 1"), "{msg}");
    let mut bytes = std::fs::read(FIXTURE).unwrap();
    bytes[3073] = 10;
    let msg = err_text(parse_cifar("c10", &bytes, 1, 0, 10));
    assert!(msg.contains("record 1: label 10"), "{msg}");
}

#[test]
fn image_label_count_mismatch_is_rejected() {
    let images = idx(3, &[5, 2, 2], &[0u8; 20]);
    let labels = idx(1, &[4], &[0u8; 4]);
    let msg = err_text(idx_dataset("imgs", &images, "lbls", &labels, 10));
    assert!(msg.contains("5 images but lbls has 4 labels"), "{msg}");
}

#[test]
fn empty_data_sets_are_rejected() {
    let images = idx(3, &[0, 28, 28], &[]);
    let labels = idx(1, &[0], &[]);
    let msg = err_text(idx_dataset("imgs", &images, "lbls", &labels, 10));
    assert!(msg.contains("empty"), "{msg}");
    let msg = err_text(parse_cifar("c10", &[], 1, 0, 10));
    assert!(msg.contains("c10: the file is empty"), "{msg}");
    let msg = err_text(ImageDataset::new("none", vec![], vec![], [1, 2, 2], 10));
    assert!(msg.contains("empty"), "{msg}");
}

#[test]
fn gzipped_and_raw_idx_folders_load() {
    let dir = scratch("idx");
    let (train, test) = embedded_fashion_mnist().unwrap();
    let to_idx = |d: &ImageDataset| {
        let px: Vec<u8> = d.pixels.iter().map(|p| (p * 255.0).round() as u8).collect();
        (
            idx(3, &[d.len() as u32, 28, 28], &px),
            idx(1, &[d.len() as u32], &d.labels),
        )
    };
    let (ti, tl) = to_idx(&train.head(30));
    let (ei, el) = to_idx(&test.head(10));
    write(&dir.join("train-images-idx3-ubyte"), &ti);
    write(&dir.join("train-labels-idx1-ubyte"), &tl);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&ei).unwrap();
    write(
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &gz.finish().unwrap(),
    );
    write(&dir.join("t10k-labels-idx1-ubyte"), &el);
    let (a, b) = load_idx_dir(&dir).unwrap();
    assert_eq!((a.len(), b.len()), (30, 10));
    assert_eq!(a, train.head(30));
    assert_eq!(b.labels, test.head(10).labels);
    // The same folder as the full-Fashion-MNIST source with a folder given.
    let source = DataSource::FashionMnist {
        dir: Some(dir.clone()),
    };
    let (a2, _) = source.load_raw().unwrap();
    assert_eq!(a2, a);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_full_fashion_mnist_source_names_the_package_when_its_files_are_missing() {
    let empty = scratch("no-fmnist");
    std::fs::create_dir_all(&empty).unwrap();
    let e = err_text(
        DataSource::FashionMnist {
            dir: Some(empty.clone()),
        }
        .load_raw(),
    );
    assert!(e.contains(&empty.display().to_string()), "{e}");
    assert!(e.contains("apt-get install dataset-fashion-mnist"), "{e}");
    assert!(e.contains("scripts/fetch-fashion-mnist.sh"), "{e}");
    // Without a folder, the configuration (and so every result key) names none; it reads
    // back from `{ kind = "fashion-mnist" }`.
    let source: DataSource = serde_json::from_str(r#"{"kind":"fashion-mnist"}"#).unwrap();
    assert_eq!(source, DataSource::FashionMnist { dir: None });
    assert_eq!(
        serde_json::to_string(&source).unwrap(),
        r#"{"kind":"fashion-mnist"}"#
    );
    let _ = std::fs::remove_dir_all(empty);
}

#[test]
fn splits_are_seeded_disjoint_and_normalised() {
    let cfg = DataConfig::default();
    let s = cfg.load().unwrap();
    // 10% of the 10,000 embedded training images are held out.
    assert_eq!(
        (s.train.len(), s.validation.len(), s.test.len()),
        (9000, 1000, 2000)
    );
    // The training split is normalised to mean 0, std 1 per channel; others use its statistics.
    let (m, sd) = s.train.channel_stats();
    assert!(
        m[0].abs() < 1e-4 && (sd[0] - 1.0).abs() < 1e-3,
        "{m:?} {sd:?}"
    );
    let (vm, _) = s.validation.channel_stats();
    assert!(vm[0].abs() < 0.1 && vm[0] != m[0]);
    assert_eq!(s.augment, Augment::default());
    // Same seed, same split; another seed, another split.
    let again = cfg.load().unwrap();
    assert_eq!(again.validation, s.validation);
    let other = DataConfig {
        seed: 1,
        ..cfg.clone()
    }
    .load()
    .unwrap();
    assert_ne!(other.validation.labels, s.validation.labels);
    // Limits for quick runs.
    let small = DataConfig {
        train_limit: Some(100),
        validation_limit: Some(50),
        test_limit: Some(20),
        ..cfg.clone()
    }
    .load()
    .unwrap();
    assert_eq!(
        (small.train.len(), small.validation.len(), small.test.len()),
        (100, 50, 20)
    );
    let msg = DataConfig {
        train_limit: Some(0),
        ..cfg.clone()
    }
    .load()
    .unwrap_err()
    .to_string();
    assert!(msg.contains("train_limit"), "{msg}");
    let msg = DataConfig {
        validation_fraction: 1.5,
        ..cfg
    }
    .load()
    .unwrap_err()
    .to_string();
    assert!(msg.contains("validation_fraction"), "{msg}");
}

#[test]
fn validation_split_is_disjoint_from_training() {
    let bytes = std::fs::read(FIXTURE).unwrap();
    let d = parse_cifar("fixture", &bytes, 1, 0, 10).unwrap();
    let (train, val) = d.split(0.25, 7).unwrap();
    assert_eq!((train.len(), val.len()), (15, 5));
    // Every image lands in exactly one split (images of the fixture are distinct).
    let key = |ds: &ImageDataset, i: usize| {
        ds.pixels[i * 3072..(i + 1) * 3072]
            .iter()
            .map(|p| p.to_bits())
            .collect::<Vec<_>>()
    };
    let mut all: Vec<_> = (0..15)
        .map(|i| key(&train, i))
        .chain((0..5).map(|i| key(&val, i)))
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 20);
}

#[test]
fn augmentation_crops_and_flips() {
    let shape = [1, 4, 4];
    let img: Vec<f32> = (0..16).map(|v| v as f32 + 1.0).collect();
    let mut rng = StdRng::seed_from_u64(0);
    let mut out = vec![0f32; 16];
    // No augmentation: identity.
    Augment::default().apply(&img, &mut out, shape, &mut rng);
    assert_eq!(out, img);
    // Flip only: each output is the identity or the mirror image; both occur.
    let flip = Augment {
        crop_padding: 0,
        horizontal_flip: true,
    };
    let mirror: Vec<f32> = (0..4)
        .flat_map(|y| (0..4).rev().map(move |x| (y * 4 + x) as f32 + 1.0))
        .collect();
    let (mut same, mut mirrored) = (0, 0);
    for _ in 0..200 {
        flip.apply(&img, &mut out, shape, &mut rng);
        if out == img {
            same += 1
        } else if out == mirror {
            mirrored += 1
        } else {
            panic!("{out:?}")
        }
    }
    assert!(same > 60 && mirrored > 60, "{same} {mirrored}");
    // Crop only: a shifted copy with zeros where the padding shows; every shift occurs.
    let crop = Augment {
        crop_padding: 1,
        horizontal_flip: false,
    };
    let mut shifts = std::collections::HashSet::new();
    for _ in 0..400 {
        crop.apply(&img, &mut out, shape, &mut rng);
        let (dy, dx) = (-1..=1)
            .flat_map(|dy| (-1..=1).map(move |dx| (dy, dx)))
            .find(|&(dy, dx): &(i32, i32)| {
                (0..4).all(|y| {
                    (0..4).all(|x| {
                        let (sy, sx) = (y + dy, x + dx);
                        let want = if (0..4).contains(&sy) && (0..4).contains(&sx) {
                            img[(sy * 4 + sx) as usize]
                        } else {
                            0.0
                        };
                        out[(y * 4 + x) as usize] == want
                    })
                })
            })
            .expect("output is not a shifted copy");
        shifts.insert((dy, dx));
    }
    assert_eq!(shifts.len(), 9);
}

#[test]
fn batches_are_tensors_with_the_right_contents() {
    let bytes = std::fs::read(FIXTURE).unwrap();
    let d = parse_cifar("fixture", &bytes, 1, 0, 10).unwrap();
    let device = Default::default();
    let (x, y) = d.batch::<Flex>(&[2, 0], &device);
    assert_eq!(x.dims(), [2, 3, 32, 32]);
    let labels: Vec<i64> = y.into_data().iter::<i64>().collect();
    assert_eq!(labels, vec![8, 3]);
    let px: Vec<f32> = x.into_data().iter::<f32>().collect();
    assert_eq!(&px[3072..3072 + 5], &d.pixels[..5]);
    let mut rng = StdRng::seed_from_u64(1);
    let (xa, _) = d.batch_augmented::<Flex, _>(&[0, 1, 2, 3], &Augment::CIFAR, &mut rng, &device);
    assert_eq!(xa.dims(), [4, 3, 32, 32]);
    let pa: Vec<f32> = xa.into_data().iter::<f32>().collect();
    assert_ne!(&pa[..3072], &d.pixels[..3072]);
    assert_eq!(
        DataSource::Cifar10 { dir: "x".into() }.default_augment(),
        Augment::CIFAR
    );
}

/// Needs Debian's `dataset-fashion-mnist` (CI installs it and runs this in its own
/// step): `cargo test -p nas-core --test data -- --ignored full_fashion_mnist`.
#[test]
#[ignore = "needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"]
fn full_fashion_mnist_loads() {
    let cfg = DataConfig {
        source: DataSource::FashionMnist { dir: None },
        ..DataConfig::default()
    };
    let s = cfg.load().unwrap();
    assert_eq!(
        (s.train.len(), s.validation.len(), s.test.len()),
        (54_000, 6_000, 10_000)
    );
    for c in 0..10u8 {
        assert_eq!(s.test.labels.iter().filter(|l| **l == c).count(), 1000);
    }
}

#[test]
fn downsample_averages_squares() {
    // One 2-channel 4x5 image: the last column does not fill a 2x2 square and is dropped.
    let plane0: Vec<f32> = (0..20).map(|v| v as f32).collect();
    let plane1: Vec<f32> = vec![1.0; 20];
    let pixels = [plane0, plane1].concat();
    let d = ImageDataset::new("t", pixels, vec![3], [2, 4, 5], 10).unwrap();
    let h = d.downsample(2).unwrap();
    assert_eq!(h.shape, [2, 2, 2]);
    assert_eq!(h.labels, vec![3]);
    // (0+1+5+6)/4 = 3, (2+3+7+8)/4 = 5, (10+11+15+16)/4 = 13, (12+13+17+18)/4 = 15.
    assert_eq!(h.pixels, vec![3.0, 5.0, 13.0, 15.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(d.downsample(1).unwrap(), d);
    let e = d.downsample(0).unwrap_err();
    assert!(e.to_string().contains("factor 0"), "{e}");
    assert!(d.downsample(5).is_err());
}

#[test]
fn data_config_downsamples_every_split() {
    let s = DataConfig {
        train_limit: Some(20),
        validation_limit: Some(10),
        test_limit: Some(10),
        downsample: 2,
        ..DataConfig::default()
    }
    .load()
    .unwrap();
    for d in [&s.train, &s.validation, &s.test] {
        assert_eq!(d.shape, [1, 14, 14]);
    }
}
