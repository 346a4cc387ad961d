//! Bit-identical results across machines: the tiny run on the `flex` backend against a
//! reference committed from another machine.
//!
//! Floating-point results depend on the instruction-set extensions the CPU offers (the
//! matrix kernels pick AVX-512, AVX2 with FMA or SSE at run time, and each sums in its own
//! order), not on the thread count. So the reference is kept per extension set (the
//! report's `cpu`): on a
//! machine whose set has a reference, the run must equal it bit for bit (timings and the
//! commit excluded); on another, the test says so and checks only that two processes
//! agree. `NAS_BLESS=1 cargo test -p nas-harness --test golden` records (or replaces) the
//! reference of this machine's set, after a change that moves results on purpose.

mod common;

use std::path::Path;

use common::{TINY, check_ok, nas, results};
use serde_json::{Map, Value, json};

const REFERENCE: &str = "tests/golden/tiny-flex.json";

/// What must not differ between machines: every evaluation of the search (one JSON value
/// per line), the stand-alone results and the report, without timings, the commit the
/// binary was built from, the machine and the command line.
fn outcome(dir: &Path) -> Value {
    let (log, mut standalone, mut report) = results(dir);
    let search: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for s in &mut standalone {
        s.as_object_mut().unwrap().remove("version");
    }
    // Provenance that names this binary, machine and command line, not the result.
    for field in ["version", "machine", "command"] {
        report.as_object_mut().unwrap().remove(field);
    }
    json!({ "search": search, "standalone": standalone, "report": report })
}

/// Runs the tiny run; `NAS_GOLDEN_WRAP` (e.g. `qemu-x86_64 -cpu Haswell-v1`) runs the
/// binary under an emulator of another CPU, to record that CPU's reference.
fn tiny_run(dir: &Path) -> Value {
    let mut cmd = match std::env::var("NAS_GOLDEN_WRAP") {
        Ok(wrap) if !wrap.trim().is_empty() => {
            let mut words = wrap.split_whitespace();
            let mut c = std::process::Command::new(words.next().unwrap());
            c.args(words).arg(nas().get_program()).env_remove("NAS_LOG");
            c
        }
        _ => nas(),
    };
    let out = cmd
        .args(["run", "-q", "--backend", "flex", "--out"])
        .arg(dir)
        .args(TINY)
        .output()
        .unwrap();
    check_ok(&out, "the tiny run");
    outcome(dir)
}

/// The first place two JSON values differ, as a path and both sides.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(p, q, &format!("{at}.{k}")),
                _ => Some(format!("{at}.{k}: present on one side only")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{at}: {a} here, {b} in the reference")),
    }
}

#[test]
fn tiny_flex_run_matches_the_reference_of_machines_like_this_one() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tiny_run(&tmp.path().join("a"));
    let second = tiny_run(&tmp.path().join("b"));
    assert_eq!(
        first_difference(&first, &second, ""),
        None,
        "two processes on one machine disagree"
    );

    let set = first["report"]["cpu"].as_str().unwrap().to_string();
    assert!(!set.is_empty(), "the report records the CPU's extensions");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(REFERENCE);
    let mut references: Map<String, Value> = std::fs::read_to_string(&path)
        .ok()
        .map(|t| serde_json::from_str(&t).expect("the reference file is valid JSON"))
        .unwrap_or_default();
    if std::env::var_os("NAS_BLESS").is_some() {
        references.insert(set.clone(), first);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&Value::Object(references)).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        eprintln!("recorded the reference of {set} in {}", path.display());
        return;
    }
    match references.get(&set) {
        Some(reference) => {
            if let Some(d) = first_difference(&first, reference, "") {
                panic!(
                    "the tiny flex run differs from the reference recorded on another {set} \
                     machine ({REFERENCE}), first at {d}. If results moved on purpose, rerun \
                     with NAS_BLESS=1 to record them."
                );
            }
        }
        None => eprintln!(
            "no reference for the extension set {set} in {REFERENCE} (there are: {:?}); \
             checked two processes only. NAS_BLESS=1 records one.",
            references.keys().collect::<Vec<_>>()
        ),
    }
}
