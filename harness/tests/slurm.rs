//! `nas slurm` without a cluster: a stand-in `sbatch` runs every array task of the job
//! script here, one after the other, as Slurm would on its nodes. The real cluster test
//! is `scripts/slurm-check.sh`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{TINY, check_ok, nas, results};

/// A stand-in for `sbatch --parsable [--dependency=...] SCRIPT`: runs the script once per
/// array index (or once, without `--array`), logs its arguments to `calls.log` beside it,
/// prints a job id. Array indices listed in `NAS_FAKE_SKIP` (e.g. "0 2") are tasks that
/// exit without doing anything; a failing merge job is logged, as Slurm would.
/// `NAS_FAKE_SIGNAL_TASK=i NAS_FAKE_SIGNAL_AT=k`: task i gets SIGUSR1 (what
/// `--signal=B:USR1@margin` sends before the time limit) once it has written its k-th
/// progress event, where it waits for it; if it then asked `scontrol requeue` for itself
/// (the stand-in `scontrol` logs that to `calls.log`), it runs again with
/// `SLURM_RESTART_COUNT=1`, as a requeued task would.
fn fake_sbatch(dir: &Path) -> PathBuf {
    let path = dir.join("sbatch");
    std::fs::write(
        &path,
        r#"#!/bin/bash
set -e
here=$(dirname "$0")
echo "$@" >> "$here/calls.log"
for a in "$@"; do script=$a; done
folder=$(dirname "$script")
last=$(grep -o -- '--array=0-[0-9]*' "$script" | sed 's/.*0-//' || true)
if [ -n "$last" ]; then
    for i in $(seq 0 "$last"); do
        case " ${NAS_FAKE_SKIP:-} " in *" $i "*) continue ;; esac
        if [ "$i" = "${NAS_FAKE_SIGNAL_TASK:-}" ]; then
            events="$folder/events-$i.jsonl"
            SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_JOB_ID=41 NAS_EVENTS="$events" \
                NAS_PARK_AT_EVENT="$NAS_FAKE_SIGNAL_AT" bash "$script" > "$folder/task-$i.log" 2>&1 &
            pid=$!
            until [ "$(cat "$events" 2>/dev/null | wc -l)" -ge "$NAS_FAKE_SIGNAL_AT" ]; do
                kill -0 "$pid" 2>/dev/null || { echo "task $i ended before the signal" >&2; exit 1; }
                sleep 0.05
            done
            kill -USR1 "$pid"
            wait "$pid" || true
            if grep -q "^requeue 41_$i\$" "$here/calls.log"; then
                SLURM_RESTART_COUNT=1 SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_JOB_ID=41 bash "$script" >> "$folder/task-$i.log" 2>&1
            fi
            continue
        fi
        SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_JOB_ID=41 bash "$script" > "$folder/task-$i.log" 2>&1
    done
    echo 41
else
    bash "$script" > "$folder/merge.log" 2>&1 || echo "the merge job failed" >> "$folder/merge.log"
    echo 42
fi
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The first submission folder of run directory `run`.
fn first_submission(run: &Path) -> PathBuf {
    std::fs::read_dir(run.join("slurm"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn run(args: &[&str], dir: &Path) -> Output {
    nas().args(args).arg("--out").arg(dir).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = std::process::Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -r {} {}", from.display(), to.display());
}

/// The tiny run's supernet trained and searched in `dir`, here.
fn searched(dir: &Path) -> PathBuf {
    let mut train = vec!["train", "-q"];
    train.extend(TINY);
    check_ok(&run(&train, dir), "train");
    check_ok(&run(&["search", "-q"], dir), "search");
    dir.to_path_buf()
}

#[test]
fn a_submitted_retraining_merges_into_the_same_results_as_a_local_one() {
    let tmp = tempfile::tempdir().unwrap();
    let sbatch = fake_sbatch(tmp.path());
    let sbatch = sbatch.to_str().unwrap();
    let cluster = searched(&tmp.path().join("cluster"));
    let local = tmp.path().join("local");
    copy_dir(&cluster, &local);

    // Nothing is submitted without a finished search.
    let fresh = tmp.path().join("fresh");
    let out = run(
        &["slurm", "submit", "retrain", "-q", "--sbatch", sbatch],
        &fresh,
    );
    assert!(!out.status.success());
    assert!(!fresh.exists(), "a refused submission creates nothing");

    let out = run(
        &[
            "slurm", "submit", "retrain", "-q", "--merge", "--sbatch", sbatch,
        ],
        &cluster,
    );
    check_ok(&out, "slurm submit");
    let text = stdout(&out);
    assert!(text.contains("submitted job array 41"), "{text}");
    assert!(text.contains("submitted the merge job 42"), "{text}");
    let calls = std::fs::read_to_string(tmp.path().join("calls.log")).unwrap();
    assert!(calls.contains("--dependency=afterok:41"), "{calls}");
    let folder = first_submission(&cluster);
    let units = std::fs::read_to_string(folder.join("units.jsonl")).unwrap();
    let n = units.lines().count();
    assert!(n >= 4, "every stand-alone training is a unit: {units}");
    let log = std::fs::read_to_string(folder.join("task-0.log")).unwrap();
    assert!(log.contains("array task 0 of job 41"), "{log}");
    assert!(
        cluster.join("report.json").exists(),
        "the merge job wrote the report"
    );

    // Every unit came from its own array task, and the merge computed none.
    let check = run(&["slurm", "check", "--require-array"], &cluster);
    check_ok(&check, "slurm check");
    assert!(
        stdout(&check).contains(&format!(
            "all {n} units have their results, {n} by their own array task"
        )),
        "{}",
        stdout(&check)
    );
    let standalone = |dir: &Path| -> Vec<serde_json::Value> {
        std::fs::read_dir(dir.join("standalone"))
            .unwrap()
            .map(|e| common::read_json(&e.unwrap().path()))
            .collect()
    };
    for r in standalone(&cluster) {
        let by = r["computed_by"].as_str().unwrap_or_default();
        assert!(by.starts_with("slurm:41_"), "{r}");
    }

    check_ok(&run(&["retrain", "-q"], &local), "local retrain");
    for r in standalone(&local) {
        assert!(
            r.get("computed_by").is_none(),
            "a local result names no Slurm job: {r}"
        );
    }
    assert_eq!(
        results(&cluster),
        results(&local),
        "array tasks and a local retraining give the same results"
    );

    // A unit whose result went missing (a task that failed) is all a second submit sends.
    let lost = std::fs::read_dir(cluster.join("standalone"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&lost).unwrap();
    let status = run(&["slurm", "status", "-q"], &cluster);
    check_ok(&status, "slurm status");
    assert!(
        stdout(&status).contains(&format!("done {}, failed 0, not done 1", n - 1)),
        "{}",
        stdout(&status)
    );
    let out = run(
        &["slurm", "submit", "retrain", "-q", "--sbatch", sbatch],
        &cluster,
    );
    check_ok(&out, "second submit");
    assert!(
        stdout(&out).contains("1 units of retrain pending"),
        "{}",
        stdout(&out)
    );
    assert!(lost.exists(), "the second array trained it again");
    check_ok(&run(&["retrain", "-q"], &cluster), "merge");
    assert_eq!(results(&cluster), results(&local));

    let out = run(
        &["slurm", "submit", "retrain", "-q", "--sbatch", sbatch],
        &cluster,
    );
    check_ok(&out, "third submit");
    assert!(
        stdout(&out).contains("nothing to submit"),
        "{}",
        stdout(&out)
    );

    // A task given an index past the units fails, naming the units file.
    let out = nas()
        .args(["slurm", "task", "-q", "--backend", "flex", "--index", "999"])
        .arg("--out")
        .arg(&cluster)
        .arg("--submission")
        .arg(&folder)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no unit 999"), "{err}");
}

#[test]
fn a_submitted_dropout_study_merges_into_the_same_report_as_a_local_one() {
    let tmp = tempfile::tempdir().unwrap();
    let sbatch = fake_sbatch(tmp.path());
    let study = |dir: &Path, extra: &[&str]| {
        let mut args = vec!["--rates", "0,0.5", "--archs", "3", "--select-archs", "0"];
        args.extend(TINY);
        args.extend(extra);
        nas()
            .args(["study", "dropout", "-q"])
            .args(&args)
            .arg("--out")
            .arg(dir)
            .output()
            .unwrap()
    };
    let cluster = tmp.path().join("cluster");
    let mut submit = vec![
        "slurm",
        "submit",
        "study",
        "-q",
        "--rates",
        "0,0.5",
        "--archs",
        "3",
        "--select-archs",
        "0",
    ];
    submit.extend(TINY);
    submit.extend(["--sbatch", sbatch.to_str().unwrap(), "--dry-run"]);
    let out = run(&submit, &cluster);
    check_ok(&out, "dry run");
    assert!(
        stdout(&out).contains("#SBATCH --array=0-4"),
        "2 supernets and 3 trainings: {}",
        stdout(&out)
    );
    assert!(
        !tmp.path().join("calls.log").exists(),
        "a dry run submits nothing"
    );
    submit.pop();
    check_ok(&run(&submit, &cluster), "slurm submit study");
    let merged = study(&cluster, &[]);
    check_ok(&merged, "merge");
    let local = tmp.path().join("local");
    check_ok(&study(&local, &[]), "local study");
    let report = |dir: &Path| {
        let mut r = common::read_json(&dir.join("study/dropout/report.json"));
        // Timing, and the command line (which names the run directory).
        for field in ["seconds", "command"] {
            r.as_object_mut().unwrap().remove(field);
        }
        r
    };
    assert_eq!(report(&cluster), report(&local));
}

#[test]
fn a_submitted_comparison_merges_into_the_same_results_as_a_local_one() {
    let tmp = tempfile::tempdir().unwrap();
    let sbatch = fake_sbatch(tmp.path());
    let cluster = tmp.path().join("cluster");
    let mut args = vec![
        "--set",
        "compare.strategies=[\"random\",\"evolution\"]",
        "--set",
        "compare.seeds=2",
    ];
    args.extend(TINY);
    let mut submit = vec!["slurm", "submit", "compare", "-q"];
    submit.extend(&args);
    submit.extend(["--sbatch", sbatch.to_str().unwrap()]);
    // The searches share the trained supernet: without it, nothing is submitted.
    let out = run(&submit, &cluster);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nas train"));
    let mut train = vec!["train", "-q"];
    train.extend(&args);
    check_ok(&run(&train, &cluster), "train");
    let local = tmp.path().join("local");
    copy_dir(&cluster, &local);
    let out = run(&submit, &cluster);
    check_ok(&out, "slurm submit compare");
    assert!(
        stdout(&out).contains("4 units of compare pending"),
        "{}",
        stdout(&out)
    );
    check_ok(&run(&["compare", "-q"], &cluster), "merge");
    // The merge loaded the finished searches; each still names its own array task.
    let check = run(&["slurm", "check", "--require-array"], &cluster);
    check_ok(&check, "slurm check");
    check_ok(&run(&["compare", "-q"], &local), "local compare");
    let table = |dir: &Path| std::fs::read_to_string(dir.join("compare/results.csv")).unwrap();
    assert_eq!(table(&cluster), table(&local));
    for search in std::fs::read_dir(local.join("search")).unwrap() {
        let name = search.unwrap().file_name();
        let log = |dir: &Path| {
            std::fs::read_to_string(dir.join("search").join(&name).join("evaluated.jsonl")).unwrap()
        };
        assert_eq!(log(&cluster), log(&local), "{name:?}");
    }
}

/// Array tasks that did nothing: the merge job refuses, listing the units without a
/// result, and writes no report; with `--merge-compute-missing` it computes them itself,
/// and `nas slurm check --require-array` names them as not computed by their task.
#[test]
fn a_merge_refuses_units_its_tasks_did_not_compute() {
    let tmp = tempfile::tempdir().unwrap();
    let sbatch = fake_sbatch(tmp.path());
    let sbatch = sbatch.to_str().unwrap();
    let cluster = searched(&tmp.path().join("cluster"));
    let submit = |extra: &[&str]| {
        let mut c = nas();
        c.args([
            "slurm", "submit", "retrain", "-q", "--merge", "--sbatch", sbatch,
        ])
        .args(extra)
        .arg("--out")
        .arg(&cluster)
        .env("NAS_FAKE_SKIP", "0 2");
        c.output().unwrap()
    };
    check_ok(&submit(&[]), "slurm submit");
    let folder = first_submission(&cluster);
    let merge = std::fs::read_to_string(folder.join("merge.log")).unwrap();
    assert!(merge.contains("the merge job failed"), "{merge}");
    assert!(merge.contains("2 of "), "{merge}");
    assert!(
        merge.contains("have no result: 0 (stand-alone training of"),
        "{merge}"
    );
    assert!(
        !cluster.join("report.json").exists(),
        "the refused merge wrote a report"
    );
    let check = run(&["slurm", "check"], &cluster);
    assert!(!check.status.success());
    let status = run(&["slurm", "status"], &cluster);
    check_ok(&status, "slurm status");
    assert!(
        stdout(&status).contains("done by slurm:41_1"),
        "{}",
        stdout(&status)
    );

    // Asked to, the merge computes the rest itself; the check tells them apart.
    std::fs::remove_dir_all(cluster.join("slurm")).unwrap();
    check_ok(&submit(&["--merge-compute-missing"]), "slurm submit");
    assert!(
        cluster.join("report.json").exists(),
        "the merge computed the rest"
    );
    let check = run(&["slurm", "check"], &cluster);
    check_ok(&check, "slurm check");
    let strict = run(&["slurm", "check", "--require-array"], &cluster);
    assert!(!strict.status.success());
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(err.contains("by local"), "{err}");
}

/// Writes an executable shell script `name` into `dir`.
fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn status_names_how_each_task_ended_and_cancel_records_the_cancellation() {
    let tmp = tempfile::tempdir().unwrap();
    let sbatch = fake_sbatch(tmp.path());
    let cluster = searched(&tmp.path().join("cluster"));
    // The tasks do nothing (as if each was killed before it wrote its result).
    let out = nas()
        .args(["slurm", "submit", "retrain", "-q", "--sbatch"])
        .arg(&sbatch)
        .arg("--out")
        .arg(&cluster)
        .env(
            "NAS_FAKE_SKIP",
            (0..64).map(|i| i.to_string()).collect::<Vec<_>>().join(" "),
        )
        .output()
        .unwrap();
    check_ok(&out, "slurm submit");
    let folder = first_submission(&cluster);
    std::fs::write(
        folder.join("task-1.log"),
        "training ...\nerror: out of disk space\n",
    )
    .unwrap();

    // Stand-ins: nothing queued, no accounting, and the controller's records of job 41.
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    script(&bin, "squeue", "exit 0");
    script(
        &bin,
        "sacct",
        "echo 'sacct: error: Slurm accounting storage is disabled' >&2; exit 1",
    );
    script(
        &bin,
        "scontrol",
        "echo 'JobId=43 ArrayJobId=41 ArrayTaskId=0 JobState=TIMEOUT Restarts=1 ExitCode=0:15'\n\
         echo 'JobId=44 ArrayJobId=41 ArrayTaskId=1 JobState=FAILED Restarts=0 ExitCode=3:0'\n\
         echo 'JobId=45 ArrayJobId=41 ArrayTaskId=2 JobState=OUT_OF_MEMORY Restarts=0 ExitCode=0:125'\n\
         echo 'JobId=41 ArrayJobId=41 ArrayTaskId=3-63 JobState=CANCELLED Restarts=0 ExitCode=0:0'",
    );
    let calls = tmp.path().join("scancel.log");
    script(
        &bin,
        "scancel",
        &format!(
            "echo \"$@\" >> {0}\n[ $(wc -l < {0}) -gt 1 ] && {{ echo 'scancel: error: Kill job error on job id 41: Invalid job id specified' >&2; exit 1; }}\nexit 0",
            calls.display()
        ),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let nas_here = |args: &[&str]| {
        nas()
            .args(args)
            .arg("--out")
            .arg(&cluster)
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    let status = nas_here(&["slurm", "status"]);
    check_ok(&status, "slurm status");
    let text = stdout(&status);
    for want in [
        "   0  timed out, requeued once",
        "   1  failed (exit code 3): see ",
        "| error: out of disk space",
        "   2  out of memory",
        "   3  cancelled",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }

    // Cancel: scancel gets the array job; a second cancel, whose jobs left the queue, is
    // no error; the submission records the cancellation.
    check_ok(&nas_here(&["slurm", "cancel"]), "slurm cancel");
    check_ok(&nas_here(&["slurm", "cancel"]), "slurm cancel again");
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "41\n41\n");
    let sub = common::read_json(&folder.join("submission.json"));
    assert!(sub["cancelled"].is_string(), "{sub}");
    let text = stdout(&nas_here(&["slurm", "status"]));
    assert!(text.contains(", cancelled "), "{text}");
    // A failing scancel is an error that says what failed.
    script(
        &bin,
        "scancel",
        "echo 'scancel: error: access denied' >&2; exit 1",
    );
    let out = nas_here(&["slurm", "cancel"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("access denied"));
}

/// A stand-in for `scontrol requeue ID`: logs `requeue ID` to `calls.log` beside it.
fn fake_scontrol(dir: &Path) {
    script(
        dir,
        "scontrol",
        "echo \"$@\" >> \"$(dirname \"$0\")/calls.log\"",
    );
}

#[test]
fn a_task_signalled_before_its_time_limit_requeues_itself_and_ends_with_a_local_runs_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let sbatch = fake_sbatch(tmp.path());
    fake_scontrol(tmp.path());
    let path = format!(
        "{}:{}",
        tmp.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut submit = vec![
        "slurm",
        "submit",
        "study",
        "-q",
        "--rates",
        "0.5",
        "--archs",
        "3",
        "--select-archs",
        "0",
        "--time",
        "1:00:00",
        "--signal-margin",
        "90",
        "--max-requeues",
        "2",
    ];
    submit.extend(TINY);
    submit.extend(["--sbatch", sbatch.to_str().unwrap()]);
    let cluster = tmp.path().join("cluster");
    // Which task trains the supernet, from a dry run's units.
    let mut dry = submit.clone();
    dry.push("--dry-run");
    let out = run(&dry, &cluster);
    check_ok(&out, "dry run");
    assert!(
        stdout(&out).contains("#SBATCH --signal=B:USR1@90"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("--max-requeues 2"),
        "{}",
        stdout(&out)
    );
    let dry_folder = first_submission(&cluster);
    let units = std::fs::read_to_string(dry_folder.join("units.jsonl")).unwrap();
    let task = units
        .lines()
        .position(|l| l.contains("\"supernet\""))
        .expect("a supernet unit");
    std::fs::remove_dir_all(&dry_folder).unwrap();

    // TINY: 3 epochs of 3 steps; event 6 is the 5th step's, inside epoch 2.
    let out = nas()
        .args(&submit)
        .arg("--out")
        .arg(&cluster)
        .env("PATH", &path)
        .env("NAS_FAKE_SIGNAL_TASK", task.to_string())
        .env("NAS_FAKE_SIGNAL_AT", "6")
        .output()
        .unwrap();
    check_ok(&out, "slurm submit");
    let calls = std::fs::read_to_string(tmp.path().join("calls.log")).unwrap();
    assert!(
        calls.lines().any(|l| l == format!("requeue 41_{task}")),
        "{calls}"
    );
    let folder = first_submission(&cluster);
    let log = std::fs::read_to_string(folder.join(format!("task-{task}.log"))).unwrap();
    assert!(
        log.contains("stopped by SIGUSR1 with a checkpoint after step 5 of 9")
            && log.contains("requeued (1 of at most 2)"),
        "{log}"
    );
    let supernet = |dir: &Path| {
        let found: Vec<PathBuf> = std::fs::read_dir(dir.join("supernet"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        found[0].clone()
    };
    let signalled = supernet(&cluster);
    let progress = common::read_json(&signalled.join("progress.json"));
    assert_eq!(progress["epochs_done"], 3, "{progress}");

    // The same supernet trained here, without a signal.
    let local = tmp.path().join("local");
    let mut study = vec![
        "study",
        "dropout",
        "-q",
        "--rates",
        "0.5",
        "--archs",
        "3",
        "--select-archs",
        "0",
    ];
    study.extend(TINY);
    check_ok(&run(&study, &local), "local study");
    let (ma, oa) = common::supernet_state(&signalled);
    let (mb, ob) = common::supernet_state(&supernet(&local));
    assert!(
        ma == mb,
        "the requeued task's weights differ from a local run's"
    );
    assert!(
        oa == ob,
        "the requeued task's optimizer state differs from a local run's"
    );

    // The supernet's array task run by hand, allowed one requeue.
    let task_cmd = || {
        let mut c = nas();
        c.args(["slurm", "task", "--out"])
            .arg(&cluster)
            .arg("--submission")
            .arg(&folder)
            .args(["--index", &task.to_string(), "--backend", "flex"])
            .args(["--max-requeues", "1"])
            .env("PATH", &path)
            .env("SLURM_ARRAY_JOB_ID", "41")
            .env("SLURM_ARRAY_TASK_ID", task.to_string());
        c
    };

    // A task signalled again after its last allowed requeue stops with its checkpoint and
    // says how to go on, without asking for another requeue.
    std::fs::remove_dir_all(&signalled).unwrap();
    let events = tmp.path().join("events-again.jsonl");
    let mut again = task_cmd();
    again.env("SLURM_RESTART_COUNT", "1");
    let (status, stderr) = common::signal_at_event(&mut again, &events, 6, "-USR1");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("was requeued 1 time(s), the most allowed (--max-requeues 1)"),
        "{stderr}"
    );
    let calls_after = std::fs::read_to_string(tmp.path().join("calls.log")).unwrap();
    assert_eq!(calls_after, calls, "no further requeue asked for");
    let progress = common::read_json(&supernet(&cluster).join("progress.json"));
    assert_eq!(progress["within_epoch"]["steps_done"], 2, "{progress}");

    // The warning before the training starts (Slurm may send it early): kept, so the
    // training stops at its first step and the task requeues itself.
    std::fs::remove_dir_all(supernet(&cluster)).unwrap();
    let events = tmp.path().join("events-early.jsonl");
    // Event 1 is the progress bar's start, before the first step.
    let (status, stderr) = common::signal_at_event(&mut task_cmd(), &events, 1, "-USR1");
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("requeued (1 of at most 1)"), "{stderr}");
    let calls_early = std::fs::read_to_string(tmp.path().join("calls.log")).unwrap();
    assert_eq!(calls_early.lines().count(), calls.lines().count() + 1);
    let progress = common::read_json(&supernet(&cluster).join("progress.json"));
    assert_eq!(progress["epochs_done"], 0, "{progress}");
    assert_eq!(progress["within_epoch"]["steps_done"], 1, "{progress}");
}
