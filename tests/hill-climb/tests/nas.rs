//! The example `nas` binary of this crate (examples/nas.rs) offers this strategy next to the
//! shipped ones, with no change outside the crate.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/nas`, built by `cargo test` with this test.
fn example_nas() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let path = profile_dir
        .join("examples")
        .join(format!("nas{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing (cargo test builds the example)",
        path.display()
    );
    path
}

fn nas(args: &[&str]) -> (bool, String) {
    let out = Command::new(example_nas()).args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_example_nas_lists_this_strategy_with_the_shipped_ones() {
    let (ok, text) = nas(&["strategies"]);
    assert!(ok, "{text}");
    for name in ["hill-climb", "random", "evolution", "reinforce"] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(
        text.contains("patience"),
        "no default settings shown:\n{text}"
    );
}

#[test]
fn the_example_nas_checks_this_strategy_s_settings() {
    let config = |setting: &str| {
        nas(&[
            "config",
            "--set",
            "search.strategy=hill-climb",
            "--set",
            setting,
        ])
    };
    let (ok, text) = config("search.strategy_config.patience=7");
    assert!(ok, "{text}");
    assert!(text.contains("patience = 7"), "{text}");
    let (ok, text) = config("search.strategy_config.patiense=7");
    assert!(!ok, "a misspelt setting was accepted:\n{text}");
    assert!(
        text.contains("patiense") && text.contains("search.strategy_config"),
        "the error does not name the setting and its table:\n{text}"
    );
}
