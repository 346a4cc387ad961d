//! Configuration layering, errors and the shipped default file.

use super::*;
use toml::Table;

fn resolve(overrides: &[&str]) -> Result<Config> {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Config::resolve(&Sources {
        base: None,
        quick: false,
        file: None,
        overrides: &o,
    })
}

/// The configuration of a user file `path` on top of the defaults.
fn user_file(path: &std::path::Path) -> Config {
    Config::resolve(&Sources {
        base: None,
        quick: false,
        file: Some(path),
        overrides: &[],
    })
    .unwrap()
}

#[test]
fn the_shipped_default_file_is_the_defaults() {
    let text = include_str!("../../../configs/default.toml");
    let table: Table = toml::from_str(text).unwrap();
    let from_file = Config::from_table(table.clone()).unwrap();
    assert_eq!(from_file, Config::default());
    // And it is accepted as a user file (no derived keys in it).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default.toml");
    std::fs::write(&path, text).unwrap();
    let c = user_file(&path);
    assert_eq!(c, Config::default());
}

#[test]
fn the_shipped_study_design_is_a_valid_configuration() {
    // configs/fmnist-full.toml, checked as a user file on top of the defaults (the data
    // itself is loaded only when a command runs).
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/fmnist-full.toml");
    let c = user_file(&path);
    assert_eq!(
        c.data.source,
        nas_core::data::DataSource::FashionMnist { dir: None }
    );
    assert_eq!((c.study.archs, c.study.select_archs), (50, 30));
    assert!(c.retrain.seeds >= 3 && c.study.supernet_seeds >= 2);
    assert_eq!(c.data.test_limit, Some(10000));
}

#[test]
fn defaults_round_trip_through_toml() {
    let c = Config::default();
    let text = c.to_toml().unwrap();
    let back = Config::from_table(toml::from_str(&text).unwrap()).unwrap();
    assert_eq!(c, back);
}

#[test]
fn overrides_set_nested_keys() {
    let c = resolve(&[
        "supernet.epochs=7",
        "supernet.optim.lr = 0.3",
        "search.strategy=random",
        "data.source.kind=\"embedded\"",
        "search.strategy_config.no_repeats=true",
    ])
    .unwrap();
    assert_eq!(c.supernet.epochs, 7);
    assert!((c.supernet.optim.lr - 0.3).abs() < 1e-12);
    assert_eq!(c.search.strategy, "random");
    assert_eq!(
        c.strategy_json("random").unwrap(),
        serde_json::json!({"no_repeats": true})
    );
    // Untouched neighbours keep their defaults.
    assert_eq!(c.supernet.batch_size, Config::default().supernet.batch_size);
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let e = format!("{:#}", resolve(&["supernet.epoch=3"]).unwrap_err());
    assert!(e.contains("epoch"), "{e}");
    let e = format!("{:#}", resolve(&["nonsense=1"]).unwrap_err());
    assert!(e.contains("nonsense"), "{e}");
}

#[test]
fn bad_values_and_derived_keys_are_errors() {
    let e = format!("{:#}", resolve(&["supernet.epochs=-1"]).unwrap_err());
    assert!(e.contains("epochs"), "{e}");
    let e = format!("{:#}", resolve(&["space.classes=3"]).unwrap_err());
    assert!(e.contains("taken from the data"), "{e}");
    let e = format!("{:#}", resolve(&["search.strategy=nope"]).unwrap_err());
    assert!(e.contains("nope"), "{e}");
    let e = format!("{:#}", resolve(&["no equals sign"]).unwrap_err());
    assert!(e.contains("key=value"), "{e}");
    let e = format!("{:#}", resolve(&["search.budget=0"]).unwrap_err());
    assert!(e.contains("budget"), "{e}");
}

#[test]
fn file_then_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "seed = 4\n[supernet]\nepochs = 9\nbatch_size = 16\n").unwrap();
    let o = vec!["supernet.epochs=2".to_string()];
    let c = Config::resolve(&Sources {
        base: None,
        quick: true,
        file: Some(&path),
        overrides: &o,
    })
    .unwrap();
    assert_eq!(
        (c.seed, c.supernet.epochs, c.supernet.batch_size),
        (4, 2, 16)
    );
    assert_eq!(c.space.filters, 4, "the preset applies below the file");
    std::fs::write(&path, "seed = [").unwrap();
    let e = format!(
        "{:#}",
        Config::resolve(&Sources {
            base: None,
            quick: false,
            file: Some(&path),
            overrides: &[],
        })
        .unwrap_err()
    );
    assert!(e.contains("c.toml") && e.contains("not valid TOML"), "{e}");
}

#[test]
fn layers_apply_over_a_saved_configuration() {
    let saved = resolve(&[
        "supernet.epochs=7",
        "search.strategy_config.population=10",
        "search.strategy_config.sample=5",
    ])
    .unwrap();
    let over = |o: &[&str]| {
        let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
        Config::resolve(&Sources {
            base: Some(&saved),
            quick: false,
            file: None,
            overrides: &o,
        })
    };
    let c = over(&["search.budget=5"]).unwrap();
    assert_eq!((c.supernet.epochs, c.search.budget), (7, 5));
    assert_eq!(
        c.strategy_json("evolution").unwrap(),
        serde_json::json!({"population": 10, "sample": 5})
    );
    // Another strategy does not inherit evolution's settings.
    let c = over(&["search.strategy=random"]).unwrap();
    assert_eq!(c.strategy_json("random").unwrap(), serde_json::json!({}));
    assert_eq!(c.supernet.epochs, 7);
    // Compared strategies take their own table, else the search's if it is theirs.
    let c = over(&["compare.strategy_configs.reinforce.lr=0.5"]).unwrap();
    assert_eq!(
        c.strategy_json("reinforce").unwrap(),
        serde_json::json!({"lr": 0.5})
    );
    assert_eq!(c.strategy_json("evolution").unwrap()["population"], 10);
    let e = format!(
        "{:#}",
        over(&["compare.strategy_configs.nope.x=1"]).unwrap_err()
    );
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn fine_tuning_is_written_out_only_when_on() {
    // Off (the default): not in the saved configuration, so the hash of a configuration
    // that does not use it is what it was before the setting existed.
    let off = Config::default();
    assert!(!off.to_toml().unwrap().contains("finetune"));
    // On: saved with every setting, and read back the same.
    let on = resolve(&[
        "search.finetune.steps=50",
        "search.finetune.optim.lr=0.1",
        "search.finetune.from=\"scratch\"",
    ])
    .unwrap();
    let text = on.to_toml().unwrap();
    assert!(text.contains("[search.finetune]"), "{text}");
    let back = Config::from_table(toml::from_str(&text).unwrap()).unwrap();
    assert_eq!(back, on);
    assert_eq!(back.search.finetune.steps, 50);
    assert_eq!(
        back.search.finetune.from,
        nas_core::eval::FineTuneStart::Scratch
    );
    assert_ne!(crate::rundir::key_of(&off), crate::rundir::key_of(&on));
}
