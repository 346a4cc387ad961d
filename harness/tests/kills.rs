//! SIGKILL at 48 seeded progress events, in every phase: after each kill every file of the
//! run directory is whole (JSON and JSON lines parse, checkpoints decode, CSV tables are
//! rectangular, Markdown and SVG end where they should), and the run finished by reruns
//! equals an uninterrupted one (timings excluded).
//!
//! The kill points are progress events, not moments: the run writes its progress as JSON
//! lines (`--events`), and `NAS_PARK_AT_EVENT=k` makes it stop for good right after its
//! k-th event, where the test kills it. The seed draws each k, so a second run of the test
//! kills at the same events (the test replays its first campaign to check that), on any
//! machine. The campaigns stop at a cap on their number and on time.
//!
//! A few minutes on 2 cores, so it is `#[ignore]`d in the default suite; `.ci/run` runs it
//! as its own step: `cargo test -p nas-harness --test kills -- --ignored --nocapture`
//! (the kill schedule is printed). `NAS_KILLS_SEED` sets another seed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{KillOnDrop, check_ok, nas, results, run_args, walk};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// Kills that must land (the run still going at the kill's event).
const KILLS: usize = 48;
/// The caps: campaigns (each ends with a rerun that finishes; `NAS_KILLS_MAX_CAMPAIGNS`
/// sets another) and total time. Reaching one fails the test, saying so.
const MAX_CAMPAIGNS: usize = 24;
const MAX_TIME: Duration = Duration::from_secs(15 * 60);
/// How long one process may take to reach its event or finish.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(180);

/// Checks that every file of the run directory is whole. Temporary files of atomic
/// writes are hidden (`.NAME.tmpPID`) and never read; any other file type fails, so a new
/// kind of file cannot go unchecked.
fn assert_whole(dir: &Path, after: &str) {
    for p in walk(dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let at = format!("{after}: {}", p.display());
        if name.starts_with('.') {
            assert!(
                name.contains(".tmp"),
                "{after}: unexpected hidden file {name}"
            );
            continue;
        }
        if name == "lock" {
            // The run directory's lock (a process id): harness/tests/cli.rs tests it.
            continue;
        }
        let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
        let bytes = std::fs::read(&p).unwrap();
        let text =
            || String::from_utf8(bytes.clone()).unwrap_or_else(|_| panic!("{at}: not UTF-8"));
        match ext {
            "json" => {
                let t = text();
                assert!(
                    serde_json::from_str::<Value>(&t).is_ok(),
                    "{at} is partial:\n{t}"
                );
            }
            // A torn last line (no newline) is dropped by readers; every complete one parses.
            "jsonl" => {
                for line in text().split_inclusive('\n').filter(|l| l.ends_with('\n')) {
                    assert!(
                        serde_json::from_str::<Value>(line).is_ok(),
                        "{at} has a partial line: {line}"
                    );
                }
            }
            "toml" => assert!(text().parse::<toml::Table>().is_ok(), "{at} is partial"),
            // Checkpoints: burn's named MessagePack records, decoded whole.
            "mpk" => assert!(
                rmp_serde::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok(),
                "{at} does not decode"
            ),
            "csv" => {
                let t = text();
                assert!(t.ends_with('\n'), "{at} does not end with a newline");
                let mut reader = csv::Reader::from_reader(t.as_bytes());
                let width = reader
                    .headers()
                    .unwrap_or_else(|e| panic!("{at}: {e}"))
                    .len();
                for row in reader.records() {
                    let row = row.unwrap_or_else(|e| panic!("{at}: {e}"));
                    assert_eq!(row.len(), width, "{at}: a row of another width");
                }
            }
            "md" | "log" => {
                let t = text();
                assert!(t.is_empty() || t.ends_with('\n'), "{at} ends mid-line");
            }
            "svg" => {
                let t = text();
                assert!(
                    t.trim_start().starts_with("<svg") || t.trim_start().starts_with("<?xml"),
                    "{at} does not start as SVG"
                );
                assert!(t.trim_end().ends_with("</svg>"), "{at} is cut short");
            }
            _ => panic!("{at}: a file of a kind this test does not check"),
        }
    }
}

/// The complete lines of an events file.
fn events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).expect("an event line parses"))
        .collect()
}

/// The phase an event belongs to.
fn phase(event: &Value) -> &'static str {
    match event["what"].as_str().unwrap() {
        "supernet" => "supernet",
        "retrain" => "retraining",
        _ => "search",
    }
}

/// One attempt: runs `nas` in `dir` until it parks at its `k`-th event (then SIGKILL:
/// returns that event) or finishes (returns `None`).
fn attempt(args: &[String], events_file: &Path, k: usize) -> Option<Value> {
    let _ = std::fs::remove_file(events_file);
    let mut child = KillOnDrop::spawn(
        nas()
            .args(args)
            .arg("--events")
            .arg(events_file)
            .env("NAS_PARK_AT_EVENT", k.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "a rerun failed");
            return None;
        }
        let seen = events(events_file);
        if seen.len() >= k {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return Some(seen[k - 1].clone());
        }
        assert!(
            started.elapsed() < ATTEMPT_TIMEOUT,
            "a process neither reached event {k} nor finished"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A campaign: kill at seeded events, rerun, kill ... until a rerun finishes; every
/// file whole after each kill. Returns the events killed at (`None`: the finishing rerun
/// drew past the end). `draws` replays given event numbers instead of drawing.
fn campaign(
    args: &dyn Fn(&Path) -> Vec<String>,
    dir: &Path,
    events_file: &Path,
    mut draw: impl FnMut() -> usize,
    label: &str,
) -> Vec<(usize, Value)> {
    let mut kills = Vec::new();
    loop {
        let k = draw();
        match attempt(&args(dir), events_file, k) {
            None => return kills,
            Some(event) => {
                assert_whole(
                    dir,
                    &format!("{label}, kill {} at event {k} ({event})", kills.len() + 1),
                );
                kills.push((k, event));
            }
        }
    }
}

fn check_equal(
    got: &(String, Vec<Value>, Value),
    expected: &(String, Vec<Value>, Value),
    what: &str,
) {
    assert_eq!(got.0, expected.0, "{what}: search logs differ");
    assert_eq!(got.1, expected.1, "{what}: stand-alone results differ");
    assert_eq!(got.2, expected.2, "{what}: reports differ");
}

#[test]
#[ignore = "a few minutes: run by .ci/run as its own step"]
fn kills_at_seeded_progress_events_leave_every_file_whole_and_change_no_result() {
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
    let whole_events = tmp.path().join("whole.jsonl");
    let out = nas()
        .args(args(&whole))
        .arg("--events")
        .arg(&whole_events)
        .output()
        .unwrap();
    check_ok(&out, "the uninterrupted run");
    let expected = results(&whole);
    let total = events(&whole_events).len();
    assert!(
        total > 20,
        "the uninterrupted run reported only {total} events"
    );
    // Each process is killed at one of the first 40% of a whole run's events.
    let reach = (total * 2 / 5).max(1);

    let seed: u64 =
        std::env::var("NAS_KILLS_SEED").map_or(20_261_128, |s| s.parse().expect("NAS_KILLS_SEED"));
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut schedule: Vec<Vec<(usize, Value)>> = Vec::new();
    let mut by_phase: BTreeMap<&str, usize> = BTreeMap::new();
    let mut landed = 0;
    let max_campaigns: usize = std::env::var("NAS_KILLS_MAX_CAMPAIGNS")
        .map_or(MAX_CAMPAIGNS, |s| {
            s.parse().expect("NAS_KILLS_MAX_CAMPAIGNS")
        });
    while landed < KILLS {
        assert!(
            schedule.len() < max_campaigns && started.elapsed() < MAX_TIME,
            "stopped at the cap ({max_campaigns} campaigns or {MAX_TIME:?}) with {landed} of \
             {KILLS} kills after {:?}",
            started.elapsed()
        );
        let n = schedule.len() + 1;
        let dir = tmp.path().join(format!("killed-{n}"));
        let events_file = tmp.path().join(format!("events-{n}.jsonl"));
        let kills = campaign(
            &args,
            &dir,
            &events_file,
            || rng.random_range(1..=reach),
            &format!("campaign {n}"),
        );
        check_equal(&results(&dir), &expected, &format!("campaign {n}"));
        for (_, e) in &kills {
            *by_phase.entry(phase(e)).or_default() += 1;
        }
        landed += kills.len();
        schedule.push(kills);
    }

    // The same draws again, in a fresh directory: the same events, the same results.
    let first: Vec<usize> = schedule[0].iter().map(|(k, _)| *k).collect();
    let mut replay = first
        .clone()
        .into_iter()
        .chain(std::iter::once(usize::MAX / 2));
    let again = campaign(
        &args,
        &tmp.path().join("replayed-1"),
        &tmp.path().join("events-replay.jsonl"),
        || replay.next().unwrap(),
        "replay of campaign 1",
    );
    check_equal(
        &results(&tmp.path().join("replayed-1")),
        &expected,
        "replay of campaign 1",
    );
    let strip = |v: &[(usize, Value)]| -> Vec<(usize, Value)> {
        v.iter()
            .map(|(k, e)| {
                let mut e = e.clone();
                e.as_object_mut().unwrap().remove("pid");
                (*k, e)
            })
            .collect()
    };
    assert_eq!(
        strip(&again),
        strip(&schedule[0]),
        "the replay killed at other events"
    );

    eprintln!(
        "seed {seed}: {landed} kills in {} campaigns, by phase {by_phase:?}, {:?}",
        schedule.len(),
        started.elapsed()
    );
    for (i, kills) in schedule.iter().enumerate() {
        let line: Vec<String> = kills
            .iter()
            .map(|(k, e)| {
                format!(
                    "#{k} {} {}/{}",
                    e["what"].as_str().unwrap(),
                    e["pos"],
                    e["len"]
                )
            })
            .collect();
        eprintln!("campaign {}: {}", i + 1, line.join(", "));
    }
    for p in ["supernet", "search", "retraining"] {
        assert!(
            by_phase.contains_key(p),
            "no kill landed in the {p} phase: {by_phase:?}"
        );
    }
}
