//! Property tests of the architecture parsers (text and JSON forms, what users type and
//! files hold): whatever the input, a value or an error, never a panic; what they accept
//! round-trips. The data readers have theirs in `fuzz_data.rs`.
//!
//! Each property runs `PROPTEST_CASES` inputs (256 by default; CI sets it).

use nas_core::space::{Architecture, SearchSpace};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
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
}
