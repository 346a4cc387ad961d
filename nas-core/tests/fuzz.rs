//! Property tests of the parsers that read what users and files give: the architecture
//! text and JSON forms, and the IDX and CIFAR readers. Whatever the input, they return a
//! value or an error, never panic; what they accept round-trips.
//!
//! Each property runs `PROPTEST_CASES` inputs (256 by default; CI sets it).

use nas_core::data::{parse_cifar, parse_idx};
use nas_core::space::{Architecture, SearchSpace};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Valid architectures of the default space, in text form.
fn valid_text() -> impl Strategy<Value = String> {
    any::<u64>().prop_map(|seed| {
        SearchSpace::default()
            .sample(&mut StdRng::seed_from_u64(seed))
            .to_string()
    })
}

/// A string edited at a few places: characters replaced, removed or inserted (from the
/// alphabet of the text form and a few others).
fn edited(base: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = "NR=;:/,0123456789 idsepcmxavg7\u{e9}\u{1F600}{}\"[]-"
        .chars()
        .collect();
    (
        base,
        prop::collection::vec(
            (any::<usize>(), 0..3u8, prop::sample::select(alphabet)),
            1..6,
        ),
    )
        .prop_map(|(text, edits)| {
            let mut chars: Vec<char> = text.chars().collect();
            for (at, kind, c) in edits {
                let i = at % (chars.len() + 1);
                match kind {
                    0 if i < chars.len() => chars[i] = c,
                    1 if i < chars.len() => {
                        chars.remove(i);
                    }
                    _ => chars.insert(i, c),
                }
            }
            chars.into_iter().collect()
        })
}

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
    // PROPTEST_CASES sets the number of cases; no regression files in the source tree.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn architecture_text_never_panics_and_what_parses_round_trips(
        text in prop_oneof![valid_text(), edited(valid_text()), ".{0,80}"]
    ) {
        let space = SearchSpace::default();
        if let Ok(arch) = space.parse(&text) {
            let again = space.parse(&arch.to_string()).expect("the printed form parses");
            prop_assert_eq!(again, arch);
        }
    }

    #[test]
    fn architecture_json_never_panics_and_what_parses_round_trips(
        json in prop_oneof![
            valid_text().prop_map(|t| t.parse::<Architecture>().unwrap().to_json()),
            edited(valid_text().prop_map(|t| t.parse::<Architecture>().unwrap().to_json())),
            ".{0,80}",
        ]
    ) {
        let space = SearchSpace::default();
        if let Ok(arch) = Architecture::from_json(&space, &json) {
            let again = Architecture::from_json(&space, &arch.to_json()).expect("round trip");
            prop_assert_eq!(again, arch);
        }
    }

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
