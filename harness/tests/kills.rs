//! SIGKILL at seeded random moments, in every phase: after each kill no file a reader
//! takes for a result is partial, and the run finished by reruns equals an uninterrupted
//! one (timings excluded).
//!
//! A few minutes on 2 cores, so it is `#[ignore]`d in the default suite; `.ci/run` runs it
//! as its own step: `cargo test -p nas-harness --test kills -- --ignored`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{KillOnDrop, check_ok, nas, results, run_args, walk};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Kills that must land (the run still going at the moment of the kill).
const KILLS: usize = 24;

/// Checks that every result file is whole: JSON files parse; in JSON-lines logs, every
/// complete line parses (a torn last line, without its newline, is dropped by readers).
/// Temporary files of atomic writes are hidden (`.NAME.tmpPID`) and never read.
fn assert_whole(dir: &Path, after: &str) {
    for p in walk(dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            assert!(
                name.contains(".tmp"),
                "{after}: unexpected hidden file {name}"
            );
            continue;
        }
        if name.ends_with(".json") {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                serde_json::from_str::<serde_json::Value>(&text).is_ok(),
                "{after}: {} is partial:\n{text}",
                p.display()
            );
        } else if name.ends_with(".jsonl") {
            let text = std::fs::read_to_string(&p).unwrap();
            for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
                assert!(
                    serde_json::from_str::<serde_json::Value>(line).is_ok(),
                    "{after}: {} has a partial line: {line}",
                    p.display()
                );
            }
        } else if name == "config.toml" {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                text.parse::<toml::Table>().is_ok(),
                "{after}: config.toml partial"
            );
        }
    }
}

/// The phase a run directory is in, judged from its files.
fn phase(dir: &Path) -> &'static str {
    let has = |sub: &str| std::fs::read_dir(dir.join(sub)).is_ok_and(|mut d| d.next().is_some());
    if dir.join("report.json").exists() {
        "report"
    } else if has("standalone") {
        "retraining"
    } else if has("search") {
        "search"
    } else {
        "supernet"
    }
}

#[test]
#[ignore = "a few minutes: run by .ci/run as its own step"]
fn kills_at_random_moments_leave_no_partial_file_and_change_no_result() {
    let tmp = tempfile::tempdir().unwrap();
    // Random architectures with 2 seeds each: more stand-alone trainings to land in.
    let args = |dir: &Path| {
        let mut a = run_args(dir);
        a.extend(
            [
                "--quiet",
                "--set",
                "retrain.random_k=3",
                "--set",
                "retrain.seeds=2",
            ]
            .map(String::from),
        );
        a
    };
    let whole = tmp.path().join("whole");
    let start = Instant::now();
    let out = nas().args(args(&whole)).output().unwrap();
    check_ok(&out, "the uninterrupted run");
    let wall = start.elapsed();
    let expected = results(&whole);

    let mut rng = StdRng::seed_from_u64(20_261_128);
    let (mut landed, mut campaigns) = (0, 0);
    let mut by_phase: BTreeMap<&str, usize> = BTreeMap::new();
    while landed < KILLS {
        // One campaign: kill, rerun, kill ... until a rerun finishes; then compare.
        campaigns += 1;
        let dir = tmp.path().join(format!("killed-{campaigns}"));
        loop {
            let delay = wall.mul_f64(rng.random_range(0.0..0.4));
            let mut child = KillOnDrop::spawn(
                nas()
                    .args(args(&dir))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            );
            let started = Instant::now();
            while started.elapsed() < delay && child.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_millis(2));
            }
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "a rerun failed");
                break;
            }
            let at = phase(&dir);
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            landed += 1;
            *by_phase.entry(at).or_default() += 1;
            assert_whole(&dir, &format!("kill {landed} ({at}, after {delay:?})"));
        }
        let got = results(&dir);
        assert_eq!(
            got.0, expected.0,
            "campaign {campaigns}: search logs differ"
        );
        assert_eq!(
            got.1, expected.1,
            "campaign {campaigns}: stand-alone results differ"
        );
        assert_eq!(got.2, expected.2, "campaign {campaigns}: reports differ");
    }
    eprintln!(
        "{landed} kills in {campaigns} campaign(s), by phase: {by_phase:?}; \
         uninterrupted run {wall:?}"
    );
    for p in ["supernet", "search", "retraining"] {
        assert!(
            by_phase.contains_key(p),
            "no kill landed in the {p} phase: {by_phase:?}"
        );
    }
}
