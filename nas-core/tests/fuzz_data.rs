//! Property tests of the IDX and CIFAR readers: whatever the bytes, a data set or an
//! error, never a panic.
//!
//! Each property runs `PROPTEST_CASES` inputs (256 by default; CI sets it).

use nas_core::data::{parse_cifar, parse_idx};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// An IDX header of unsigned bytes with `dims` dimensions of the given sizes, then a
/// payload of `payload` bytes.
fn idx_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u32>(), 0..5),
        0..3000usize,
        any::<bool>(),
    )
        .prop_map(|(dims, payload, small)| {
            let mut b = vec![0, 0, 8, dims.len() as u8];
            for d in &dims {
                // Small sizes make headers that may fit the payload; any u32 the others.
                let d = if small { d % 40 } else { *d };
                b.extend(d.to_be_bytes());
            }
            b.extend((0..payload).map(|i| (i % 256) as u8));
            b
        })
}

proptest! {
    // PROPTEST_CASES sets the number of cases. A failing input is saved in the
    // regressions file beside this one (committed), and replayed first on every run.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions"
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn idx_files_never_panic(
        bytes in prop_oneof![idx_bytes(), prop::collection::vec(any::<u8>(), 0..64)],
        dims in 1..4usize,
    ) {
        if let Ok((shape, payload)) = parse_idx("fuzz.idx", &bytes, dims) {
            prop_assert_eq!(shape.len(), dims);
            prop_assert_eq!(shape.iter().product::<usize>(), payload.len());
        }
    }

    #[test]
    fn cifar_files_never_panic(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..7000),
            (1..3usize, any::<u8>()).prop_map(|(n, label)| {
                let mut b = Vec::new();
                for _ in 0..n {
                    b.push(label % 12);
                    b.extend(std::iter::repeat_n(7u8, 3072));
                }
                b
            }),
        ],
        label_bytes in 1..3usize,
    ) {
        if let Ok(d) = parse_cifar("fuzz.bin", &bytes, label_bytes, label_bytes - 1, 10) {
            prop_assert_eq!(d.len() * (label_bytes + 3072), bytes.len());
            prop_assert!(d.labels.iter().all(|&l| l < 10));
        }
    }
}

/// What the fuzzer found once (saved in fuzz_data.proptest-regressions): an IDX header
/// whose dimensions' product overflows. It is an error naming the file, not a panic.
#[test]
fn idx_header_whose_size_overflows_is_an_error() {
    let bytes = [0, 0, 8, 3, 0, 0, 0, 2, 131, 34, 55, 221, 249, 225, 231, 131];
    let err = parse_idx("overflow.idx", &bytes, 3)
        .unwrap_err()
        .to_string();
    assert!(err.contains("overflow.idx"), "{err}");
    // The same header with a fourth dimension: too large for any payload as well.
    let mut four = bytes.to_vec();
    four[3] = 4;
    four.extend([255, 255, 255, 255]);
    assert!(parse_idx("overflow4.idx", &four, 4).is_err());
}
