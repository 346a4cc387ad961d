//! What the end-to-end tests of the `nas` binary share.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn nas() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nas"));
    c.env_remove("NAS_LOG");
    c
}

/// A child process that is killed (SIGKILL) and reaped when the guard is dropped, also
/// when a test's assertion fires while it runs, so a failing test leaves no process
/// behind.
pub struct KillOnDrop(Child);

impl KillOnDrop {
    /// Spawns `cmd` under the guard.
    pub fn spawn(cmd: &mut Command) -> Self {
        KillOnDrop(cmd.spawn().expect("the child process starts"))
    }
}

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Both fail harmlessly when the child has already ended and been reaped.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

/// The one folder under `dir/parent` whose name starts with `prefix` (run directories
/// key their supernets and searches by hash).
pub fn only_dir(dir: &Path, parent: &str, prefix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir.join(parent))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(found.len(), 1, "{parent}/{prefix}*: {found:?}");
    found[0].clone()
}

/// The search log of a run's only search, or an empty path if there is none yet.
pub fn search_log(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir.join("search"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path().join("evaluated.jsonl"))
        .unwrap_or_default()
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The results of a run that must not depend on interruptions: the search log, every
/// stand-alone result without its timing, and the report.
pub fn results(dir: &Path) -> (String, Vec<Value>, Value) {
    let log = std::fs::read_to_string(search_log(dir)).unwrap();
    // A kill may leave the hidden temporary file of an atomic write behind
    // (`.NAME.tmpPID`); readers never take it for a result, and neither does this.
    let mut standalone: Vec<Value> = std::fs::read_dir(dir.join("standalone"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| {
            let mut v = read_json(&p);
            // Timing, and which Slurm job trained it (the Slurm tests check that apart).
            for field in ["seconds", "computed_by"] {
                v.as_object_mut().unwrap().remove(field);
            }
            v
        })
        .collect();
    standalone.sort_by_key(|v| v["key"].as_str().unwrap().to_string());
    let mut report = read_json(&dir.join("report.json"));
    // The command line names the run directory; the rest of the provenance is this
    // machine's and this binary's.
    report.as_object_mut().unwrap().remove("command");
    for field in ["seconds", "computed_by"] {
        report["best"].as_object_mut().unwrap().remove(field);
    }
    for r in report["retrained"].as_array_mut().unwrap() {
        for field in ["seconds", "computed_by"] {
            r.as_object_mut().unwrap().remove(field);
        }
        for rep in r["repeats"].as_array_mut().into_iter().flatten() {
            rep.as_object_mut().unwrap().remove("seconds");
        }
    }
    (log, standalone, report)
}

/// Every file under `dir`, in sorted order (none when it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The saved weights and optimizer state of the supernet in folder `dir` (its last
/// checkpoint), comparable between runs: burn names each parameter with a fresh random id
/// (in the model's record, and as the keys of the optimizer's), so each id is replaced by
/// its parameter's place in the model, and maps are sorted by key.
pub fn supernet_state(dir: &Path) -> (rmpv::Value, rmpv::Value) {
    let progress = read_json(&dir.join("progress.json"));
    let read = |file: &str| {
        let bytes = std::fs::read(dir.join(progress[file].as_str().unwrap())).unwrap();
        rmpv::decode::read_value(&mut bytes.as_slice()).unwrap()
    };
    let (mut model, mut optim) = (read("model_file"), read("optimizer_file"));
    let mut names = std::collections::HashMap::new();
    param_names(&model, "", &mut names);
    assert!(names.len() > 10, "{} parameters found", names.len());
    rename_ids(&mut model, &names);
    rename_ids(&mut optim, &names);
    (model, optim)
}

/// Collects each parameter's id (an `id` field of the decoded record) with its path.
fn param_names(v: &rmpv::Value, path: &str, out: &mut std::collections::HashMap<String, String>) {
    match v {
        rmpv::Value::Map(m) => {
            for (k, x) in m {
                let key = k.as_str().unwrap_or("?");
                if key == "id"
                    && let Some(id) = x.as_str()
                {
                    out.insert(id.to_string(), path.to_string());
                } else {
                    param_names(x, &format!("{path}/{key}"), out);
                }
            }
        }
        rmpv::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                param_names(x, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Replaces parameter ids (values of `id` fields, and map keys) by their paths, and sorts
/// every map by key (the optimizer's state is a hash map).
fn rename_ids(v: &mut rmpv::Value, names: &std::collections::HashMap<String, String>) {
    let rename = |x: &mut rmpv::Value| {
        if let Some(name) = x.as_str().and_then(|s| names.get(s)) {
            *x = rmpv::Value::from(name.as_str());
        }
    };
    match v {
        rmpv::Value::Map(m) => {
            for (k, x) in m.iter_mut() {
                rename(k);
                if k.as_str() == Some("id") {
                    rename(x);
                } else {
                    rename_ids(x, names);
                }
            }
            m.sort_by_key(|(k, _)| k.to_string());
        }
        rmpv::Value::Array(a) => a.iter_mut().for_each(|x| rename_ids(x, names)),
        _ => {}
    }
}

/// Waits (up to 10 minutes) until `events` has at least `n` lines, or `child` ends (a
/// failure: the test's stop point was never reached).
pub fn wait_for_events(child: &mut KillOnDrop, events: &Path, n: usize) {
    let start = Instant::now();
    loop {
        let lines = std::fs::read_to_string(events).map_or(0, |t| t.lines().count());
        if lines >= n {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before its event {n}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "event {n} never came"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `cmd` with progress events to `events`, parked right after its `k`-th event (the
/// test hook `NAS_PARK_AT_EVENT`), sends it `signal` (e.g. `-TERM`) there, and returns
/// how it ended and what it wrote to stderr.
pub fn signal_at_event(
    cmd: &mut Command,
    events: &Path,
    k: usize,
    signal: &str,
) -> (std::process::ExitStatus, String) {
    let mut child = KillOnDrop::spawn(
        cmd.env("NAS_EVENTS", events)
            .env("NAS_PARK_AT_EVENT", k.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped()),
    );
    wait_for_events(&mut child, events, k);
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal}");
    // Read in a thread, so a process that does not end fails the test instead of hanging it.
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut stderr = String::new();
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
        stderr
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the process did not end within 300 s of {signal}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    (status, reader.join().unwrap())
}
