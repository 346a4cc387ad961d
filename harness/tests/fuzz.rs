//! Property tests of configuration loading: a configuration file of any text and
//! `--set` overrides of any keys and values give a configuration or an error, never a
//! panic, and so do the checks `nas config` makes on what they give.
//!
//! Each property runs `PROPTEST_CASES` inputs (256 by default; CI sets it).

use nas_harness::config::{Config, Sources};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Every key of the default configuration (`a.b.c`), the keys overrides most often name.
fn keys() -> Vec<String> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut Vec<String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if let toml::Value::Table(inner) = v {
                walk(&key, inner, out);
            }
            out.push(key);
        }
    }
    let table = toml::Table::try_from(Config::default()).unwrap();
    let mut out = Vec::new();
    walk("", &table, &mut out);
    out
}

/// Values: TOML of every type, numbers at and beyond the edges, and arbitrary text.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| v.to_string()),
        prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "2",
            "65",
            "0.5",
            "1.5",
            "-0.1",
            "1e308",
            "nan",
            "inf",
            "true",
            "\"\"",
            "\"evolution\"",
            "\"random\"",
            "[]",
            "[0, 0.5]",
            "[\"id\"]",
            "{}",
            "{kind=\"idx\"}",
            "{kind=\"embedded\"}",
            "18446744073709551615",
            "99999999999999999999",
        ])
        .prop_map(str::to_string),
        ".{0,12}",
    ]
}

/// An override: a real key (or an edited or unknown one), `=`, a value; sometimes no `=`.
fn override_text() -> impl Strategy<Value = String> {
    let keys = keys();
    prop_oneof![
        (prop::sample::select(keys.clone()), value()).prop_map(|(k, v)| format!("{k}={v}")),
        (prop::sample::select(keys), ".{0,3}", value())
            .prop_map(|(k, junk, v)| format!("{k}{junk}={v}")),
        ".{0,30}",
    ]
}

/// What `nas config` checks after resolving (no data needed), in its order: the
/// strategies are built only for a valid space.
fn check(cfg: &Config) {
    let _ = cfg.supernet.validate();
    let _ = cfg.retrain.train.validate();
    let _ = cfg.to_toml();
    if cfg.space.validate().is_ok() {
        let _ = cfg.check_strategies(&cfg.space);
    }
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
    fn overrides_never_panic(
        overrides in prop::collection::vec(override_text(), 0..5),
        quick in any::<bool>(),
    ) {
        let src = Sources { base: None, quick, file: None, overrides: &overrides };
        if let Ok(cfg) = Config::resolve(&src) {
            check(&cfg);
            // What resolves also reads back from its own TOML.
            let text = cfg.to_toml().unwrap();
            let again = Config::from_table(toml::from_str(&text).unwrap()).unwrap();
            prop_assert_eq!(again.to_toml().unwrap(), text);
        }
    }

    #[test]
    fn configuration_files_never_panic(
        lines in prop::collection::vec(
            prop_oneof![
                override_text().prop_map(|o| o.replacen('=', " = ", 1)),
                prop::sample::select(keys()).prop_map(|k| format!("[{k}]")),
                ".{0,20}",
            ],
            0..8,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, lines.join("\n")).unwrap();
        let src = Sources { base: None, quick: false, file: Some(&file), overrides: &[] };
        if let Ok(cfg) = Config::resolve(&src) {
            check(&cfg);
        }
    }
}
