//! The `nas` binary end to end: the quick run and its report, resuming after SIGKILL at
//! several points, and clear errors for bad input.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

/// The sample of the study tests: two rates, three architectures, two seeds each.
const STUDY_SAMPLE: &[&str] = &[
    "--rates",
    "0,0.5",
    "--archs",
    "3",
    "--select-archs",
    "3",
    "--set",
    "retrain.seeds=2",
];
use common::{
    KillOnDrop, TINY, check_ok, nas, only_dir, read_json, results, run_args, search_log, walk,
};

/// Runs `nas` with `args`, expecting failure; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = nas().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} should fail; stderr: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    err
}

/// Spearman's rho: Pearson's r of the values' ranks (tied values share their mean
/// rank), computed here independently of the harness's statistics.
fn spearman_of(a: &[f64], b: &[f64]) -> f64 {
    let ranks = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .map(|x| {
                let less = v.iter().filter(|y| *y < x).count();
                let equal = v.iter().filter(|y| *y == x).count();
                less as f64 + (equal as f64 - 1.0) / 2.0
            })
            .collect()
    };
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let var = |r: &[f64], m: f64| r.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    cov / (var(&ra, ma) * var(&rb, mb)).sqrt()
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .map(|e| e.path().extension().is_some_and(|x| x == "json"))
                .unwrap_or(false)
        })
        .count()
    })
}

/// When to kill a run, judged from its directory.
type KillPoint = Box<dyn Fn(&Path) -> bool>;

/// Starts a run and kills it with SIGKILL once `ready` holds; returns whether it was
/// still running at that moment (so the kill did interrupt it).
fn kill_when(dir: &Path, ready: impl Fn(&Path) -> bool) -> bool {
    let mut child = KillOnDrop::spawn(
        nas()
            .args(run_args(dir))
            .arg("--quiet")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the run failed before the kill point");
            return false;
        }
        if ready(dir) {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            return true;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "kill point never reached"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn quick_run_writes_a_report_that_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("quick");
    // Three random architectures, each trained with 2 seeds: the noise floor is measured.
    let out = nas()
        .args(["run", "--quick", "--quiet", "--out"])
        .arg(&dir)
        .args(["--set", "retrain.random_k=3", "--set", "retrain.seeds=2"])
        .output()
        .unwrap();
    check_ok(&out, "nas run --quick");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("best architecture: N="), "{stdout}");

    let report = read_json(&dir.join("report.json"));
    let best = &report["best"];
    let acc = best["test"]["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert!(best["stats"]["params"].as_u64().unwrap() > 0);
    assert!(best["stats"]["macs"].as_u64().unwrap() > 0);
    // The best architecture's text parses back in the configured space.
    let space = nas_core::SearchSpace {
        filters: 4,
        ..Default::default()
    };
    space.parse(best["arch"].as_str().unwrap()).unwrap();
    assert_eq!(report["budget"], 24);
    assert_eq!(report["retrained"].as_array().unwrap().len(), 5);
    // The correlation is over the uniformly sampled architectures only.
    let random = report["retrained"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["role"] == "random")
        .count();
    assert_eq!(random, 3);
    assert_eq!(report["correlation"]["n"], random);
    for r in report["retrained"].as_array().unwrap() {
        let repeats = r["repeats"].as_array().map_or(0, Vec::len);
        assert_eq!(repeats, usize::from(r["role"] == "random"), "{r}");
    }
    assert_eq!(report["noise"]["architectures"], 3);
    assert_eq!(report["noise"]["seeds"], 2);
    assert!(report["noise"]["seed_std"].as_f64().unwrap() >= 0.0);
    let rho = report["correlation"]["spearman"]["value"].as_f64();
    assert!(rho.is_none_or(|r| (-1.0..=1.0).contains(&r)));
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(
        groups.iter().map(|g| g["n"].as_u64().unwrap()).sum::<u64>(),
        5
    );
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.contains("uniformly sampled"), "{summary}");

    let search = only_dir(&dir, "search", "evolution-s0-");
    assert_eq!(count_lines(&search.join("evaluated.jsonl")), 24);
    assert_eq!(count_lines(&search.join("evaluated.csv")), 25);
    let supernet = only_dir(&dir, "supernet", "");
    for f in [
        "config.toml",
        "summary.md",
        "plots/oneshot_vs_standalone.svg",
        "plots/search.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert!(supernet.join("progress.json").is_file());
    assert!(supernet.join("setup.json").is_file());
    let svg = std::fs::read_to_string(dir.join("plots/search.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("circle"));
    // The saved configuration is complete: it loads with no other input.
    let cfg: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("config.toml")).unwrap()).unwrap();
    assert_eq!(cfg["space"]["filters"].as_integer(), Some(4));

    // Rerunning a finished run recomputes nothing and reports the same.
    let before = results(&dir);
    let again = nas()
        .args(["run", "--quiet", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    check_ok(&again, "rerun");
    assert_eq!(results(&dir), before);

    // Scoring one architecture with the trained supernet.
    let arch = best["arch"].as_str().unwrap();
    let out = nas()
        .args(["eval", "--quiet", "--arch", arch, "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    check_ok(&out, "nas eval");
    let text = String::from_utf8_lossy(&out.stdout);
    let want = format!("{:.4}", best["one_shot"]["accuracy"].as_f64().unwrap());
    assert!(
        text.contains(&format!("one-shot accuracy {want}")),
        "{text}"
    );
}

#[test]
fn killed_runs_resume_to_the_same_results() {
    let tmp = tempfile::tempdir().unwrap();
    let whole: PathBuf = tmp.path().join("whole");
    let out = nas()
        .args(run_args(&whole))
        .arg("--quiet")
        .output()
        .unwrap();
    check_ok(&out, "uninterrupted run");
    let expected = results(&whole);

    let dir = tmp.path().join("killed");
    let points: [(&str, KillPoint); 3] = [
        (
            "during supernet training",
            Box::new(|d: &Path| {
                std::fs::read_dir(d.join("supernet"))
                    .ok()
                    .and_then(|mut it| it.next())
                    .and_then(|e| e.ok())
                    .is_some_and(|e| e.path().join("progress.json").exists())
            }),
        ),
        (
            "during the search",
            Box::new(|d: &Path| count_lines(&search_log(d)) >= 3),
        ),
        (
            "during retraining",
            Box::new(|d: &Path| count_files(&d.join("standalone")) >= 1),
        ),
    ];
    for (what, ready) in points {
        assert!(
            kill_when(&dir, ready),
            "the run finished before the kill {what}"
        );
    }
    let out = nas().args(run_args(&dir)).arg("--quiet").output().unwrap();
    check_ok(&out, "resumed run");
    let got = results(&dir);
    assert_eq!(got.0, expected.0, "search logs differ");
    assert_eq!(got.1, expected.1, "stand-alone results differ");
    assert_eq!(got.2, expected.2, "reports differ");
}

#[test]
fn bad_input_gives_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("r");
    let ds = d.to_str().unwrap();

    let e = fails(&["run", "--out", ds, "--set", "search.strategy=nope"]);
    assert!(e.contains("nope") && e.contains("evolution"), "{e}");
    let e = fails(&["run", "--out", ds, "--set", "supernet.epoch=3"]);
    assert!(e.contains("unknown field") && e.contains("epoch"), "{e}");
    let e = fails(&["run", "--out", ds, "--quick", "--backend", "tpu"]);
    assert!(
        e.contains("unknown backend 'tpu'") && e.contains("flex"),
        "{e}"
    );
    #[cfg(not(feature = "cuda"))]
    {
        let e = fails(&["run", "--out", ds, "--quick", "--backend", "cuda:0"]);
        assert!(e.contains("--features cuda"), "{e}");
    }
    let cfg = tmp.path().join("bad.toml");
    std::fs::write(&cfg, "[supernet]\nepochs = \"many\"\n").unwrap();
    let e = fails(&["run", "--out", ds, "--config", cfg.to_str().unwrap()]);
    assert!(e.contains("epochs"), "{e}");
    let e = fails(&["run", "--out", ds, "--config", "/nonexistent/c.toml"]);
    assert!(e.contains("/nonexistent/c.toml"), "{e}");

    // Bad values are caught before anything is written, so the corrected command works.
    for bad in [
        "supernet.drop_path.r_max=1.5",
        "supernet.optim.lr=-1",
        "data.validation_fraction=1.5",
        "search.strategy_config.population=0",
        "space.filters=3",
    ] {
        let key = bad.split('=').next().unwrap();
        let name = key.rsplit('.').next().unwrap();
        let e = fails(&["run", "--quick", "--out", ds, "--set", bad]);
        assert!(e.contains(name), "{bad}: {e}");
        assert!(!d.exists(), "{bad} left {} behind", d.display());
    }
    let out = nas()
        .args(["train", "--quiet", "--out", ds])
        .args(TINY)
        .output()
        .unwrap();
    check_ok(&out, "nas train");
    assert!(d.join("config.toml").is_file());
    // A bad value on an existing run directory leaves its configuration alone.
    let saved = std::fs::read(d.join("config.toml")).unwrap();
    fails(&["train", "--out", ds, "--set", "supernet.optim.lr=-1"]);
    assert_eq!(std::fs::read(d.join("config.toml")).unwrap(), saved);

    // Bad architectures name the problem.
    let e = fails(&["eval", "--out", ds, "--arch", "N=0:sep3;R=0:bogus"]);
    assert!(e.contains("bogus"), "{e}");
    let e = fails(&["retrain", "--out", ds]);
    assert!(e.contains("not finished"), "{e}");
    let fresh = tmp.path().join("fresh");
    let e = fails(&["search", "--quick", "--out", fresh.to_str().unwrap()]);
    assert!(e.contains("nas train"), "{e}");
}

#[test]
fn listings() {
    let out = nas().arg("strategies").output().unwrap();
    check_ok(&out, "nas strategies");
    let s = String::from_utf8_lossy(&out.stdout);
    for name in ["evolution", "random", "reinforce"] {
        assert!(s.contains(name), "{s}");
    }
    let out = nas().arg("backends").output().unwrap();
    check_ok(&out, "nas backends");
    assert!(String::from_utf8_lossy(&out.stdout).contains("flex"));
    let out = nas()
        .args(["space", "--set", "space.blocks_per_cell=2"])
        .output()
        .unwrap();
    check_ok(&out, "nas space");
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("architectures: ") && s.contains("decisions: 8"),
        "{s}"
    );
}

#[test]
fn compare_runs_strategies_and_seeds_on_one_supernet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cmp");
    let out = nas()
        .args(["compare", "--quiet", "--out"])
        .arg(&dir)
        .args(TINY)
        .args([
            "--strategies",
            "random,evolution",
            "--seeds",
            "2",
            "--retrain-winners",
        ])
        .output()
        .unwrap();
    check_ok(&out, "nas compare");
    let rows = read_json(&dir.join("compare/results.json"));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        let best = r["best_one_shot"].as_f64().unwrap();
        // The best of a search is the maximum of its log.
        let prefix = format!("{}-s{}-", r["strategy"].as_str().unwrap(), r["seed"]);
        let log = only_dir(&dir, "search", &prefix).join("evaluated.jsonl");
        let text = std::fs::read_to_string(&log).unwrap();
        let scores: Vec<f64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["accuracy"]
                    .as_f64()
                    .unwrap()
            })
            .collect();
        assert_eq!(scores.len(), 8, "equal budgets");
        assert_eq!(scores.iter().copied().fold(f64::MIN, f64::max), best);
        assert!(r["winner_test"].as_f64().is_some());
    }
    let summary = std::fs::read_to_string(dir.join("compare/summary.md")).unwrap();
    assert!(
        summary.contains("| random |") && summary.contains("| evolution |"),
        "{summary}"
    );
    // Several seeds: each mean curve has its band of one standard deviation.
    let svg = std::fs::read_to_string(dir.join("compare/curves.svg")).unwrap();
    assert!(svg.contains("<polygon"), "no std band in curves.svg");
    assert!(
        summary.contains("Against random search") && summary.contains("standard error"),
        "{summary}"
    );
    // One supernet served every search.
    assert!(
        only_dir(&dir, "supernet", "")
            .join("progress.json")
            .is_file()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("evolution") && stdout.contains("±"),
        "{stdout}"
    );
}

/// Results are keyed by what they depend on: searching a trained run directory with
/// another strategy reuses its supernet, retraining with other epochs reuses the search.
/// Runs on the ndarray backend, so every shipped strategy runs end to end on it.
#[test]
fn phases_reuse_what_is_valid_and_every_strategy_runs_on_ndarray() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keyed");
    let ds = dir.to_str().unwrap();
    let out = nas()
        .args(run_args(&dir))
        .args(["--quiet", "--backend", "ndarray"])
        .output()
        .unwrap();
    check_ok(&out, "nas run --backend ndarray");
    let supernet = only_dir(&dir, "supernet", "");
    let trained = std::fs::read(supernet.join("progress.json")).unwrap();
    for strategy in ["random", "reinforce"] {
        let set = format!("search.strategy={strategy}");
        let out = nas()
            .args([
                "search",
                "--quiet",
                "--backend",
                "ndarray",
                "--out",
                ds,
                "--set",
                &set,
            ])
            .output()
            .unwrap();
        check_ok(&out, &format!("nas search with {strategy}"));
        let search = only_dir(&dir, "search", &format!("{strategy}-s0-"));
        assert_eq!(count_lines(&search.join("evaluated.jsonl")), 8);
    }
    // No second supernet was trained, and the first was not touched.
    assert_eq!(only_dir(&dir, "supernet", ""), supernet);
    assert_eq!(
        std::fs::read(supernet.join("progress.json")).unwrap(),
        trained
    );
    assert_eq!(
        std::fs::read_dir(dir.join("search")).unwrap().count(),
        3,
        "one search per strategy"
    );
    // Retraining the first search with other epochs trains anew, searching nothing.
    let before = count_files(&dir.join("standalone"));
    let log = only_dir(&dir, "search", "evolution-s0-").join("evaluated.jsonl");
    let searched = std::fs::read(&log).unwrap();
    let out = nas()
        .args(["retrain", "--quiet", "--backend", "ndarray", "--out", ds])
        .args([
            "--set",
            "search.strategy=evolution",
            "--set",
            "retrain.train.epochs=2",
        ])
        .output()
        .unwrap();
    check_ok(&out, "nas retrain with other epochs");
    assert_eq!(count_files(&dir.join("standalone")), 2 * before);
    assert_eq!(std::fs::read(&log).unwrap(), searched);
    let cfg = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(cfg.contains("strategy = \"evolution\""), "{cfg}");
}

#[test]
fn a_budget_the_random_start_takes_whole_is_warned_about() {
    // The defaults evolve: no warning.
    let out = nas().arg("config").output().unwrap();
    check_ok(&out, "nas config");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("warning"), "{err}");
    // A budget within evolution's initial population is random search: said, not refused.
    let out = nas()
        .args(["config", "--set", "search.budget=20"])
        .output()
        .unwrap();
    check_ok(&out, "nas config with a small budget");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning")
            && err.contains("search.budget = 20")
            && err.contains("'evolution'")
            && err.contains("search.strategy_config"),
        "{err}"
    );
    let out = nas()
        .args([
            "config",
            "--set",
            "search.budget=20",
            "--set",
            "search.strategy_config.population=10",
        ])
        .output()
        .unwrap();
    check_ok(&out, "nas config with a fitting population");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

#[test]
fn dropout_study_scores_one_sample_with_a_supernet_per_rate_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let ds = dir.to_str().unwrap();
    // Bad settings are refused before anything is written.
    for (bad, says) in [
        (vec!["--rates", "0,1.5"], "1.5"),
        (vec!["--rates", "0.1,0.1"], "twice"),
        (vec!["--archs", "2"], "study.archs"),
        (
            vec!["--set", "study.supernet_seeds=0"],
            "study.supernet_seeds",
        ),
    ] {
        let mut args = vec!["study", "dropout", "--out", ds];
        args.extend(TINY.iter().copied());
        args.extend(bad.iter().copied());
        let e = fails(&args);
        assert!(e.contains(says), "{bad:?}: {e}");
        assert!(!dir.exists(), "{bad:?} left {} behind", dir.display());
    }
    let run = || {
        nas()
            .args(["study", "dropout", "--quiet", "--out", ds])
            .args(TINY)
            .args(STUDY_SAMPLE)
            .output()
            .unwrap()
    };
    let out = run();
    check_ok(&out, "nas study dropout");
    let study = dir.join("study/dropout");
    let report = read_json(&study.join("report.json"));
    let rates = report["rates"].as_array().unwrap();
    assert_eq!(rates.len(), 2);
    assert_ne!(
        rates[0]["supernet"], rates[1]["supernet"],
        "one supernet per rate"
    );
    assert_eq!(std::fs::read_dir(dir.join("supernet")).unwrap().count(), 2);
    for r in rates {
        assert_eq!(r["scores"].as_array().unwrap().len(), 3);
        assert_eq!(r["correlation"]["n"], 3);
        let kl = r["kl"].as_array().unwrap();
        assert_eq!(kl.len(), 3);
        assert!(kl.iter().all(|k| k.as_f64().unwrap() >= 0.0), "{kl:?}");
        assert_eq!(r["kl_vs_standalone"]["n"], 3);
        assert_eq!(r["params_vs_one_shot"]["n"], 3);
    }
    assert!(report["kl_examples"].as_u64().unwrap() > 0);
    let summary = std::fs::read_to_string(study.join("summary.md")).unwrap();
    assert!(
        summary.contains("KL divergence") && summary.contains("Size bias"),
        "{summary}"
    );
    let archs = report["archs"].as_array().unwrap();
    assert_eq!(archs.len(), 3);
    assert!(
        archs
            .iter()
            .all(|a| a["standalone"].as_array().unwrap().len() == 2)
    );
    // The selection sample: 3 more architectures, disjoint from the reported ones,
    // scored by every rate; the rate is chosen on them.
    let selection = report["selection_archs"].as_array().unwrap();
    assert_eq!(selection.len(), 3);
    let reported: Vec<&str> = archs.iter().map(|a| a["arch"].as_str().unwrap()).collect();
    assert!(
        selection
            .iter()
            .all(|a| !reported.contains(&a["arch"].as_str().unwrap())),
        "the samples overlap"
    );
    for r in rates {
        assert_eq!(r["selection_scores"].as_array().unwrap().len(), 3);
        assert_eq!(r["selection"]["n"], 3);
    }
    let chosen = &report["chosen"];
    assert_eq!(chosen["disjoint"], true);
    let best = rates
        .iter()
        .max_by(|a, b| {
            let v = |r: &serde_json::Value| r["selection"]["spearman"]["value"].as_f64();
            v(a).unwrap_or(f64::MIN)
                .total_cmp(&v(b).unwrap_or(f64::MIN))
        })
        .unwrap();
    assert_eq!(
        chosen["rate"], best["rate"],
        "the rate with the best selection Spearman"
    );
    assert!(report["rate_test"]["p_value"].as_f64().unwrap() > 0.0);
    assert!(summary.contains("## The chosen rate") && summary.contains("selection sample"));
    assert!(
        summary.contains("## Ranges (the paper's figure 5)"),
        "{summary}"
    );
    assert!(
        summary.contains("## Where the noise comes from"),
        "{summary}"
    );
    // (3 + 3) architectures x 2 seeds, trained once for both rates.
    assert_eq!(count_files(&dir.join("standalone")), 12);
    assert_eq!(report["noise"]["seeds"], 2);
    assert_eq!(count_lines(&study.join("results.csv")), 1 + 2 * 3);
    for f in [
        "summary.md",
        "plots/correlation_vs_rate.svg",
        "plots/figure5.svg",
    ] {
        assert!(study.join(f).is_file(), "{f} missing");
    }
    // Every supernet keeps what it scored: the 6 architectures, once each.
    let caches: Vec<std::path::PathBuf> = rates
        .iter()
        .map(|r| {
            let scores = dir
                .join("supernet")
                .join(r["supernet"].as_str().unwrap())
                .join("scores");
            let jsonl: Vec<_> = walk(&scores)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect();
            assert_eq!(jsonl.len(), 1, "{jsonl:?}");
            assert_eq!(count_lines(&jsonl[0]), 6);
            jsonl[0].clone()
        })
        .collect();
    let cached = |i: usize| std::fs::read_to_string(&caches[i]).unwrap();
    let before = (cached(0), cached(1));
    // Run again: everything is read back, nothing is trained or scored again, the report
    // is the same.
    let supernets = std::fs::read_dir(dir.join("supernet")).unwrap().count();
    let out = run();
    check_ok(&out, "nas study dropout, again");
    assert_eq!(
        std::fs::read_dir(dir.join("supernet")).unwrap().count(),
        supernets
    );
    assert_eq!(count_files(&dir.join("standalone")), 12);
    assert_eq!((cached(0), cached(1)), before, "scored again");
    let again = read_json(&study.join("report.json"));
    assert_eq!(again["rates"], report["rates"]);
    // The scores really come from the cache: one changed by hand shows in the report.
    let first_arch = archs[0]["arch"].as_str().unwrap();
    let tampered: String = before
        .0
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v["arch"] == first_arch {
                v["accuracy"] = serde_json::json!(0.123456);
            }
            format!("{v}\n")
        })
        .collect();
    assert_ne!(tampered, before.0);
    std::fs::write(&caches[0], tampered).unwrap();
    check_ok(&run(), "nas study dropout, on a changed cache");
    let changed = read_json(&study.join("report.json"));
    assert_eq!(changed["rates"][0]["scores"][0], 0.123456);
    assert_eq!(changed["rates"][1]["scores"], report["rates"][1]["scores"]);
}

#[test]
fn dropout_study_with_two_supernets_per_rate_scores_their_mean_and_measures_their_agreement() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let out = nas()
        .args([
            "study",
            "dropout",
            "--quiet",
            "--out",
            dir.to_str().unwrap(),
        ])
        .args(TINY)
        .args([
            "--rates",
            "0.25",
            "--archs",
            "4",
            "--select-archs",
            "0",
            "--set",
            "retrain.seeds=1",
        ])
        .args(["--set", "study.supernet_seeds=2"])
        .output()
        .unwrap();
    check_ok(&out, "nas study dropout with 2 supernets per rate");
    let report = read_json(&dir.join("study/dropout/report.json"));
    let rate = &report["rates"][0];
    let repeats = rate["supernet_repeats"].as_array().unwrap();
    assert_eq!(repeats.len(), 1, "{rate}");
    assert_ne!(rate["supernet"], repeats[0]);
    assert_eq!(std::fs::read_dir(dir.join("supernet")).unwrap().count(), 2);
    // The score is the mean of the two supernets' scores, which differ.
    let by_net = rate["scores_by_supernet"].as_array().unwrap();
    assert_eq!(by_net.len(), 2);
    let f = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (a, b, mean) = (f(&by_net[0]), f(&by_net[1]), f(&rate["scores"]));
    assert_eq!(mean.len(), 4);
    assert_ne!(a, b, "two seeds gave the same one-shot scores");
    for i in 0..4 {
        assert!((mean[i] - (a[i] + b[i]) / 2.0).abs() < 1e-12, "{i}: {rate}");
    }
    assert_eq!(f(&rate["losses"]).len(), 4);
    assert_eq!(rate["loss_correlation"]["n"], 4);
    assert_eq!(rate["one_shot_noise"]["seeds"], 2);
    assert_eq!(rate["one_shot_noise"]["architectures"], 4);
    // The same by loss: each supernet's losses, their mean, and their agreement.
    let losses = rate["losses_by_supernet"].as_array().unwrap();
    let (la, lb, lmean) = (f(&losses[0]), f(&losses[1]), f(&rate["losses"]));
    for i in 0..4 {
        assert!(
            (lmean[i] - (la[i] + lb[i]) / 2.0).abs() < 1e-12,
            "{i}: {rate}"
        );
    }
    let by_loss = &rate["one_shot_loss_noise"];
    assert_eq!(by_loss["seeds"], 2);
    let minus = |v: Vec<f64>| v.into_iter().map(|x| -x).collect::<Vec<_>>();
    let expected = spearman_of(&minus(la), &minus(lb));
    assert!(
        (by_loss["seed_to_seed"]["spearman"]["value"]
            .as_f64()
            .unwrap()
            - expected)
            .abs()
            < 1e-9,
        "{by_loss}"
    );
    let summary = std::fs::read_to_string(dir.join("study/dropout/summary.md")).unwrap();
    assert!(summary.contains("One-shot noise floor"), "{summary}");
    // The second supernet is the one `nas train` trains with both seeds moved by 1:
    // the same key (folder) and the same training, loss for loss (the checkpoint files
    // themselves hold random parameter ids, so their bytes differ from run to run).
    let single = tmp.path().join("single");
    let out = nas()
        .args(["train", "--quiet", "--out", single.to_str().unwrap()])
        .args(TINY)
        .args(["--set", "seed=1", "--set", "supernet.seed=1"])
        .args(["--set", "supernet.drop_path.r_max=0.25"])
        .output()
        .unwrap();
    check_ok(&out, "nas train with seeds moved by 1");
    let key = repeats[0].as_str().unwrap();
    let trained = only_dir(&single, "supernet", "");
    assert_eq!(trained.file_name().unwrap().to_string_lossy(), key);
    let history = |d: &std::path::Path| read_json(&d.join("progress.json"))["history"].clone();
    let history_of_repeat = history(&dir.join("supernet").join(key));
    assert_eq!(history(&trained), history_of_repeat);
    assert_ne!(
        history(
            &dir.join("supernet")
                .join(rate["supernet"].as_str().unwrap())
        ),
        history_of_repeat,
        "the two supernets of the rate trained alike"
    );
}

#[test]
fn dropout_study_with_a_short_training_baseline_compares_the_one_shot_model_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let ds = dir.to_str().unwrap();
    let run = || {
        nas()
            .args(["study", "dropout", "--quiet", "--out", ds])
            .args(TINY)
            .args(["--rates", "0.25", "--archs", "5", "--select-archs", "0"])
            .args(["--set", "retrain.seeds=1", "--set", "study.proxy.steps=3"])
            .output()
            .unwrap()
    };
    let out = run();
    check_ok(&out, "nas study dropout with the baseline");
    let report = read_json(&dir.join("study/dropout/report.json"));
    let f = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let proxy = &report["proxy"];
    assert_eq!(proxy["steps"], 3);
    assert_eq!(proxy["seeds"], 2);
    assert_eq!(proxy["trained"], 10);
    let scores = f(&proxy["scores"]);
    let (a, b) = (f(&proxy["by_seed"][0]), f(&proxy["by_seed"][1]));
    assert_eq!(scores.len(), 5);
    assert_ne!(a, b, "two seeds trained alike");
    for i in 0..5 {
        assert!((scores[i] - (a[i] + b[i]) / 2.0).abs() < 1e-12, "{proxy}");
    }
    // Its correlation and the paired difference, recomputed here.
    let test: Vec<f64> = report["archs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| f(&a["test"]).iter().sum::<f64>() / f(&a["test"]).len() as f64)
        .collect();
    let rate = &report["rates"][0];
    let one_shot = f(&rate["scores"]);
    let value = |v: &Value| v["value"].as_f64().unwrap();
    let baseline = value(&proxy["test_correlation"]["spearman"]);
    assert!(
        (baseline - spearman_of(&scores, &test)).abs() < 1e-9,
        "{proxy}"
    );
    assert!(
        (value(&rate["proxy_difference"])
            - (spearman_of(&one_shot, &test) - spearman_of(&scores, &test)))
        .abs()
            < 1e-9,
        "{rate}"
    );
    let summary = std::fs::read_to_string(dir.join("study/dropout/summary.md")).unwrap();
    assert!(
        summary.contains("## A baseline: a short training from scratch"),
        "{summary}"
    );
    assert!(
        summary.contains("a 3-step training from scratch"),
        "{summary}"
    );
    // The first seed's score of an architecture is what `nas eval` gives it with the
    // same training as a from-scratch fine-tuning.
    let arch = report["archs"][0]["arch"].as_str().unwrap();
    let out = nas()
        .args(["eval", "--quiet", "--arch", arch, "--out", ds])
        .args(TINY)
        .args(["--set", "supernet.drop_path.r_max=0.25"])
        .args(["--set", "search.finetune.steps=3"])
        .args(["--set", "search.finetune.from=\"scratch\""])
        .args(["--set", "search.finetune.optim.lr=0.1"])
        .output()
        .unwrap();
    check_ok(&out, "nas eval with a from-scratch fine-tuning");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("one-shot accuracy {:.4}", a[0])),
        "{text} against {a:?}"
    );
    // A rerun reads every baseline score back.
    check_ok(&run(), "nas study dropout with the baseline, again");
    let again = read_json(&dir.join("study/dropout/report.json"));
    assert_eq!(again["proxy"]["trained"], 0);
    assert_eq!(again["proxy"]["scores"], proxy["scores"]);
}

#[test]
fn study_all_writes_one_report_with_its_provenance_and_publishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, published) = (tmp.path().join("run"), tmp.path().join("results/tiny"));
    // A reading written beside an earlier publication is kept.
    std::fs::create_dir_all(&published).unwrap();
    std::fs::write(published.join("reading.md"), "written by hand").unwrap();
    let run = || {
        nas()
            .args(["study", "all", "--quiet", "--out"])
            .arg(&dir)
            .args(TINY)
            .args(STUDY_SAMPLE)
            .args(["--set", "study.proxy.steps=2"])
            .args([
                "--strategies",
                "random,evolution",
                "--seeds",
                "2",
                "--publish",
            ])
            .arg(&published)
            .output()
            .unwrap()
    };
    let out = run();
    check_ok(&out, "nas study all");
    let readme = std::fs::read_to_string(published.join("README.md")).unwrap();
    // The short-training baseline's target: met exactly when the paired interval at the
    // chosen rate lies above 0.
    let report = read_json(&published.join("dropout/report.json"));
    let chosen = report["rates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rate"] == report["chosen"]["rate"])
        .unwrap();
    let low = chosen["proxy_difference"]["ci95"][0].as_f64();
    let row = readme
        .lines()
        .find(|l| l.contains("training each architecture 2 steps from scratch"))
        .unwrap_or_else(|| panic!("no baseline target:\n{readme}"));
    let met = match low {
        Some(low) if low > 0.0 => "| yes |",
        Some(_) => "| no |",
        None => "| n/a |",
    };
    assert!(row.ends_with(met), "{row} against a lower bound of {low:?}");
    for part in [
        "nas study all --quiet --out",
        "--rates 0,0.5",
        env!("NAS_GIT_COMMIT"),
        "Seed: 0",
        "1 invocation(s)",
        "## Against the targets",
        "Spearman >= 0.7 vs stand-alone test",
        "at the chosen rate",
        "### What the supernet learns (KL divergence)",
        "## Strategy comparison",
        "`dropout/plots/correlation_vs_rate.svg`",
    ] {
        assert!(readme.contains(part), "README lacks {part:?}:\n{readme}");
    }
    for f in [
        "reading.md",
        "config.toml",
        "invocations.jsonl",
        "dropout/report.json",
        "dropout/results.csv",
        "dropout/results.json",
        "dropout/plots/correlation_vs_rate.svg",
        "compare/results.csv",
        "compare/curves.svg",
    ] {
        assert!(published.join(f).is_file(), "{f} not published");
    }
    // The published data is the run's.
    assert_eq!(
        read_json(&published.join("dropout/report.json"))["rates"],
        read_json(&dir.join("study/dropout/report.json"))["rates"]
    );
    // 2 strategies x 2 seeds.
    assert_eq!(count_lines(&published.join("compare/results.csv")), 1 + 4);
    // The winners of the comparison were trained stand-alone, and compared.
    let trained = count_files(&dir.join("standalone"));
    assert!(trained > 12, "no winner trained: {trained} results");
    assert!(
        readme.contains("the winner's stand-alone test accuracy")
            && readme.contains("p (permutation test, two-sided)"),
        "{readme}"
    );
    // Again: nothing is trained, the invocation is added to the record.
    let supernets = std::fs::read_dir(dir.join("supernet")).unwrap().count();
    let out = run();
    check_ok(&out, "nas study all, again");
    assert_eq!(
        std::fs::read_dir(dir.join("supernet")).unwrap().count(),
        supernets
    );
    assert_eq!(count_files(&dir.join("standalone")), trained);
    assert_eq!(count_lines(&published.join("invocations.jsonl")), 2);
    let readme = std::fs::read_to_string(published.join("README.md")).unwrap();
    assert!(readme.contains("2 invocation(s)"), "{readme}");
    assert_eq!(
        std::fs::read_to_string(published.join("reading.md")).unwrap(),
        "written by hand"
    );
}

#[test]
fn stand_alone_trainings_in_worker_processes_give_the_same_results() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    let out = nas().args(run_args(&one)).arg("--quiet").output().unwrap();
    check_ok(&out, "nas run, one worker");
    let out = nas()
        .args(run_args(&two))
        .args(["--quiet", "--set", "retrain.workers=2"])
        .output()
        .unwrap();
    check_ok(&out, "nas run, two workers");
    let (log_one, standalone_one, report_one) = results(&one);
    let (log_two, standalone_two, report_two) = results(&two);
    assert_eq!(log_one, log_two);
    assert_eq!(standalone_one.len(), 4);
    assert_eq!(standalone_one, standalone_two, "workers changed a training");
    assert_eq!(report_one["retrained"], report_two["retrained"]);
    // Each worker logged to its own file; the saved configuration is the parent's.
    let logs = std::fs::read_dir(two.join("logs")).unwrap().count();
    assert_eq!(logs, 4);
    let cfg = std::fs::read_to_string(two.join("config.toml")).unwrap();
    assert!(cfg.contains("workers = 2"), "{cfg}");
    assert!(!one.join("logs").exists());
}

#[test]
fn a_shared_folder_of_stand_alone_results_is_reused_and_extended() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    let out = nas()
        .args(run_args(&first))
        .arg("--quiet")
        .output()
        .unwrap();
    check_ok(&out, "nas run");
    assert_eq!(count_files(&first.join("standalone")), 4);
    // A second run directory with one more random architecture: the 4 identical
    // trainings are copied, not redone (their files, training time included, are
    // byte-identical); the new one is added to the shared folder too.
    let shared = format!("retrain.shared_dir={:?}", first.display().to_string());
    let out = nas()
        .args(run_args(&second))
        .args(["--quiet", "--set", &shared, "--set", "retrain.random_k=3"])
        .output()
        .unwrap();
    check_ok(&out, "nas run with a shared folder");
    assert_eq!(count_files(&second.join("standalone")), 5);
    assert_eq!(count_files(&first.join("standalone")), 5);
    for entry in std::fs::read_dir(first.join("standalone")).unwrap() {
        let path = entry.unwrap().path();
        let copy = second.join("standalone").join(path.file_name().unwrap());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&copy).unwrap(),
            "{} differs",
            path.display()
        );
    }
}

#[test]
fn a_second_process_on_a_run_directory_is_refused_and_a_killed_holder_blocks_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut first = KillOnDrop::spawn(
        nas()
            .args(run_args(&dir))
            .args(["--quiet", "--set", "supernet.epochs=100000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    // Wait until it holds the lock, has said who it is and has saved its configuration
    // (just after taking the lock).
    let lock = dir.join("lock");
    let start = Instant::now();
    while std::fs::read_to_string(&lock).map_or(true, |s| !s.ends_with('\n'))
        || !dir.join("config.toml").exists()
    {
        assert!(start.elapsed() < Duration::from_secs(120), "no lock taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let out = nas().args(run_args(&dir)).arg("--quiet").output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second process ran");
    assert!(
        e.contains(&format!(
            "is in use by another nas process (pid {}",
            first.id()
        )),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("config.toml")).unwrap(),
        config,
        "the refused process wrote the configuration"
    );
    // SIGKILL: the operating system releases the lock.
    first.kill().unwrap();
    first.wait().unwrap();
    let out = nas().args(run_args(&dir)).arg("--quiet").output().unwrap();
    check_ok(&out, "nas run after the holder was killed");
}

#[test]
fn a_diverged_supernet_training_fails_naming_where_and_a_smaller_rate_then_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let ds = dir.to_str().unwrap();
    let mut args = vec!["run", "--quiet", "--out", ds];
    args.extend(TINY.iter().copied());
    let mut wild = args.clone();
    wild.extend(["--set", "supernet.optim.lr=100000"]);
    let e = fails(&wild);
    assert!(
        e.contains("training the supernet: training diverged in epoch ")
            && e.contains(" of 3, at step ")
            && e.contains(" of 9: the loss is "),
        "{e}"
    );
    assert!(
        !dir.join("report.json").exists(),
        "a report of a diverged run"
    );
    // The saved configuration keeps the wild rate; the rerun sets a smaller one.
    let out = nas()
        .args(&args)
        .args(["--set", "supernet.optim.lr=0.05"])
        .output()
        .unwrap();
    check_ok(&out, "nas run with a smaller learning rate, same directory");
}

#[test]
fn diverged_stand_alone_trainings_are_recorded_and_listed_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    // Learning rates from large to absurd: some architectures diverge at a rate where
    // others still train; every one diverges at the last.
    let mut partial = false;
    for lr in ["1000", "3000", "10000"] {
        let dir = tmp.path().join(lr);
        let lr_set = format!("retrain.train.optim.lr={lr}");
        let run = || {
            nas()
                .args(run_args(&dir))
                .args(["--quiet", "--set", "retrain.random_k=4", "--set", &lr_set])
                .output()
                .unwrap()
        };
        let out = run();
        let names: Vec<String> = std::fs::read_dir(dir.join("standalone"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let failed = names.iter().filter(|n| n.ends_with(".failed.json")).count();
        if failed == 0 {
            check_ok(&out, "nas run without a failed training");
            continue;
        }
        let record = names.iter().find(|n| n.ends_with(".failed.json")).unwrap();
        let record = read_json(&dir.join("standalone").join(record));
        assert!(
            record["reason"]
                .as_str()
                .unwrap()
                .contains("diverged in epoch"),
            "{record}"
        );
        if failed == names.len() {
            let e = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success());
            assert!(e.contains("every stand-alone training failed"), "{e}");
            continue;
        }
        partial = true;
        check_ok(&out, "nas run with some failed trainings");
        let report = read_json(&dir.join("report.json"));
        assert_eq!(report["failed"].as_array().unwrap().len(), failed);
        assert_eq!(
            report["retrained"].as_array().unwrap().len(),
            names.len() - failed
        );
        let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
        assert!(
            summary.contains("## Failed stand-alone trainings")
                && summary.contains(&format!("{failed} training(s) diverged")),
            "{summary}"
        );
        // A rerun reads the failures back: nothing is trained again.
        let before = std::fs::read_dir(dir.join("standalone")).unwrap().count();
        let out = run();
        check_ok(&out, "nas run again");
        assert_eq!(
            std::fs::read_dir(dir.join("standalone")).unwrap().count(),
            before
        );
        assert_eq!(
            read_json(&dir.join("report.json"))["failed"],
            report["failed"]
        );
    }
    assert!(partial, "no learning rate made only some trainings diverge");
}

/// A test that fails while its child process runs leaves no process behind: the guard
/// kills and reaps it as the panic unwinds.
#[test]
fn a_failing_test_kills_its_child_process() {
    let mut pid = None;
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let child = KillOnDrop::spawn(std::process::Command::new("sleep").arg("300"));
        pid = Some(child.id());
        assert!(
            Path::new(&format!("/proc/{}", child.id())).exists(),
            "the child runs"
        );
        panic!("an assertion fires while the child runs");
    }));
    assert!(unwound.is_err());
    let pid = pid.expect("the child was started");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} outlived the failed test"
    );
}

#[test]
fn events_report_every_phase_as_json_lines_and_a_rerun_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let events = tmp.path().join("events.jsonl");
    let run = || {
        let out = nas()
            .args(run_args(&dir))
            .arg("--quiet")
            .arg("--events")
            .arg(&events)
            .output()
            .unwrap();
        check_ok(&out, "nas run --events");
    };
    run();
    let read = || -> Vec<Value> {
        std::fs::read_to_string(&events)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let first = read();
    let mut kinds: Vec<&str> = first.iter().map(|e| e["what"].as_str().unwrap()).collect();
    kinds.dedup();
    // Supernet steps, then the search's evaluations, then stand-alone training steps.
    assert_eq!(kinds, ["supernet", "evolution", "retrain"], "{first:?}");
    for e in &first {
        assert!(
            e["pos"].as_u64().unwrap() <= e["len"].as_u64().unwrap(),
            "{e}"
        );
        assert_eq!(e["pid"], first[0]["pid"]);
    }
    let supernet = first.iter().filter(|e| e["what"] == "supernet").count() as u64;
    // The initial position, then one event per step.
    assert_eq!(supernet, first[0]["len"].as_u64().unwrap() + 1);
    // A finished run's rerun reads everything back: a few start events at most, appended.
    run();
    let second = read();
    assert!(second.len() >= first.len() && second[..first.len()] == first[..]);
}

/// The only supernet folder of a run directory.
fn supernet_dir(dir: &Path) -> PathBuf {
    only_dir(dir, "supernet", "")
}

#[test]
fn a_training_stopped_by_sigterm_inside_an_epoch_resumes_to_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let train = |dir: &Path| {
        let mut c = nas();
        c.args(["train", "-q", "--out"]).arg(dir).args(TINY);
        c
    };
    let whole = tmp.path().join("whole");
    check_ok(&train(&whole).output().unwrap(), "nas train");

    // TINY: 3 epochs of 3 steps. Event 6 is the 5th step's (the first is the bar's start):
    // the second step of epoch 2.
    let stopped = tmp.path().join("stopped");
    let events = tmp.path().join("events.jsonl");
    let (status, stderr) = common::signal_at_event(&mut train(&stopped), &events, 6, "-TERM");
    assert_eq!(status.code(), Some(143), "128 + SIGTERM: {stderr}");
    assert!(
        stderr.contains("stopped by SIGTERM with a checkpoint after step 5 of 9"),
        "{stderr}"
    );
    let progress = read_json(&supernet_dir(&stopped).join("progress.json"));
    assert_eq!(progress["epochs_done"], 1, "{progress}");
    assert_eq!(progress["within_epoch"]["steps_done"], 2, "{progress}");
    assert_eq!(progress["history"].as_array().unwrap().len(), 1);

    // The same command goes on from the checkpoint to the uninterrupted run's weights.
    check_ok(&train(&stopped).output().unwrap(), "nas train (resumed)");
    let (a, b) = (supernet_dir(&whole), supernet_dir(&stopped));
    let pa = read_json(&a.join("progress.json"));
    let pb = read_json(&b.join("progress.json"));
    assert_eq!(pb["within_epoch"], Value::Null);
    assert_eq!(pa["history"], pb["history"], "the per-epoch figures");
    let (ma, oa) = common::supernet_state(&a);
    let (mb, ob) = common::supernet_state(&b);
    assert!(
        ma == mb,
        "the resumed run's weights differ from the uninterrupted run's"
    );
    assert!(
        oa == ob,
        "the resumed run's optimizer state differs from the uninterrupted run's"
    );
}
