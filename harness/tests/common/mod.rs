//! What the end-to-end tests of the `nas` binary share.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub fn nas() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nas"));
    c.env_remove("NAS_LOG");
    c
}

/// A configuration small enough for every phase to take a few seconds.
pub const TINY: &[&str] = &[
    "--quick",
    "--set",
    "data.train_limit=96",
    "--set",
    "data.validation_limit=64",
    "--set",
    "data.test_limit=64",
    "--set",
    "space.stacks=2",
    "--set",
    "supernet.epochs=3",
    "--set",
    "supernet.batch_size=32",
    "--set",
    "search.budget=8",
    "--set",
    "search.eval_batch=64",
    "--set",
    "retrain.top_k=2",
    "--set",
    "retrain.random_k=2",
    "--set",
    "retrain.eval_batch=64",
];

pub fn run_args(dir: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into(), "--out".into(), dir.display().to_string()];
    a.extend(TINY.iter().map(|s| s.to_string()));
    a
}

pub fn check_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
