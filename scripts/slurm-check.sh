#!/usr/bin/env bash
# `nas slurm` on a real Slurm cluster: installs Debian's slurm-wlm and munge (if missing),
# starts a single-node cluster on this machine (scripts/slurm-cluster.sh), and checks:
#   1. the stand-alone retraining of a small run, submitted as a job array with a
#      dependent merge job, gives the same results and report as a local run of the
#      same units;
#   2. after a lost result, a second submit sends only that unit;
#   3. a small dropout study (2 supernets + 12 stand-alone trainings as one array),
#      merged by `nas study dropout`, gives the same report as a local study;
#   4. a strategy comparison (2 strategies x 2 seeds, one search per task), merged by
#      `nas compare`, gives the same searches and table as a local comparison;
#   5. a task that fails is named as failed by `nas slurm status`, with its exit code and
#      the end of its log;
#   6. `nas slurm cancel` leaves no job of the submission queued, and status says
#      cancelled;
#   7. a supernet unit with a time limit too short for it (2 minutes) gets SIGUSR1 before
#      the limit, saves a checkpoint inside its epoch, requeues itself, and ends with the
#      same training figures and one-shot scores as the same supernet trained here; beside
#      it, a supernet unit without the signal runs into the limit: status says timed out.
# Stops the daemons it started. Run as root (CI: its own step in .ci/run). NAS_BIN names a
# `nas` program to use instead of building one.
set -euo pipefail
# The daemons live in /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$SECONDS
say() { printf '\n== slurm-check (%ds): %s\n' "$((SECONDS - start))" "$*"; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
fi

# NAS_BIN: a `nas` built already (CI passes the one its test step built); else it is built.
if [ -n "${NAS_BIN:-}" ]; then
    nas=$NAS_BIN
else
    say "building nas"
    cargo build --locked --bin nas
    nas="${CARGO_TARGET_DIR:-$root/target}/debug/nas"
fi
nas=$(realpath "$nas")
[ -x "$nas" ] || { echo "slurm-check: no nas program at $nas" >&2; exit 1; }

work=$(mktemp -d /tmp/slurm-check.XXXXXX)
cluster="$work/cluster"
passed=0
cleanup() {
    scripts/slurm-cluster.sh stop "$cluster" || true
    if [ "$passed" = 1 ]; then
        rm -rf "$work"
    else
        echo "slurm-check: failed; the run directories and the cluster's logs are in $work" >&2
    fi
}
trap cleanup EXIT
say "starting a single-node cluster in $cluster"
scripts/slurm-cluster.sh start "$cluster"
export SLURM_CONF="$cluster/slurm.conf"
sinfo

small=(--quick --set data.train_limit=96 --set data.validation_limit=64 --set data.test_limit=64
    --set space.stacks=2 --set supernet.epochs=3 --set supernet.batch_size=32
    --set search.budget=8 --set search.eval_batch=64 --set retrain.top_k=2
    --set retrain.random_k=2 --set retrain.seeds=2 --set retrain.eval_batch=64
    --set retrain.workers=1)

# Waits until job $1 (and its array tasks) left the queue, printing the queue meanwhile.
wait_for() {
    local job=$1 limit=${2:-900} waited=0
    while [ -n "$(squeue -h -j "$job" 2>/dev/null)" ]; do
        squeue -j "$job" -r -o '%.12i %.10T %.10M %R' | sed 's/^/  squeue: /'
        sleep 2
        waited=$((waited + 2))
        if [ "$waited" -gt "$limit" ]; then
            echo "slurm-check: job $job still queued after $limit s" >&2
            exit 1
        fi
    done
}

# Runs `nas slurm submit ... --merge` with the arguments given, prints its output, and
# waits for the array and its merge job to leave the queue.
submit_and_wait() {
    local out job merge
    out=$("$nas" slurm submit "$@" --merge)
    echo "$out"
    job=$(sed -n 's/^submitted job array \([0-9]*\).*/\1/p' <<<"$out")
    merge=$(sed -n 's/^submitted the merge job \([0-9]*\).*/\1/p' <<<"$out")
    [ -n "$job" ] && [ -n "$merge" ] || { echo "slurm-check: no job ids in the output" >&2; exit 1; }
    wait_for "$job"
    wait_for "$merge"
}

# Prints the JSON of $1 without timings and without the commit (sorted keys).
strip() {
    python3 - "$1" <<'PY'
import json, sys
def s(o):
    if isinstance(o, dict):
        return {k: s(v) for k, v in o.items() if k not in ("seconds", "version", "command", "machine", "computed_by")}
    if isinstance(o, list):
        return [s(v) for v in o]
    return o
print(json.dumps(s(json.load(open(sys.argv[1]))), sort_keys=True, indent=1))
PY
}

# Compares the results of run directories $1 and $2: every stand-alone result, then $3.
same_results() {
    local a=$1 b=$2 report=$3 f
    diff <(ls "$a/standalone") <(ls "$b/standalone")
    for f in "$a"/standalone/*.json; do
        diff <(strip "$f") <(strip "$b/standalone/$(basename "$f")")
    done
    diff <(strip "$a/$report") <(strip "$b/$report")
    echo "slurm-check: $(ls "$a/standalone" | wc -l) stand-alone results and $report identical (timings aside)"
}

say "1. a small run's supernet and search, here"
run="$work/run"
"$nas" train -q --out "$run" "${small[@]}"
"$nas" search -q --out "$run"
cp -r "$run" "$work/local"

say "1. its retraining as a job array with a merge job"
submit_and_wait retrain -q --out "$run"
"$nas" slurm status --out "$run"
# Every unit's result names its own array task: the tasks did the work, the merge none.
"$nas" slurm check --require-array --out "$run"
head -n 1 "$run"/slurm/retrain-*/task-*.log
[ -f "$run/report.json" ] || { echo "slurm-check: the merge job wrote no report" >&2; cat "$run"/slurm/retrain-*/merge.log >&2; exit 1; }

say "1. the same retraining locally, one unit after the other"
"$nas" retrain -q --out "$work/local"
same_results "$run" "$work/local" report.json

say "2. a lost result: the second submit sends that unit only"
lost=$(ls "$run"/standalone/*.json | head -n 1)
rm "$lost"
out=$("$nas" slurm submit retrain -q --out "$run")
echo "$out"
grep -q '^1 units of retrain pending' <<<"$out"
job=$(sed -n 's/^submitted job array \([0-9]*\).*/\1/p' <<<"$out")
wait_for "$job"
[ -f "$lost" ] || { echo "slurm-check: the lost result was not trained again" >&2; exit 1; }
"$nas" slurm check --require-array --out "$run"
"$nas" retrain -q --out "$run"
same_results "$run" "$work/local" report.json

say "3. a dropout study as one job array (supernets and stand-alone trainings)"
study=(--rates 0,0.5 --archs 3 --select-archs 3 "${small[@]}")
submit_and_wait study -q --out "$work/study" "${study[@]}"
"$nas" slurm status --out "$work/study"
"$nas" slurm check --require-array --out "$work/study"
[ -f "$work/study/study/dropout/report.json" ] || { echo "slurm-check: no study report" >&2; cat "$work"/study/slurm/study-*/merge.log >&2; exit 1; }
"$nas" study dropout -q --out "$work/study-local" "${study[@]}"
same_results "$work/study" "$work/study-local" study/dropout/report.json

say "4. a strategy comparison as one job array (one search per task)"
cmp_args=(--set 'compare.strategies=["random","evolution"]' --set compare.seeds=2)
"$nas" train -q --out "$work/compare" "${small[@]}" "${cmp_args[@]}"
cp -r "$work/compare" "$work/compare-local"
submit_and_wait compare -q --out "$work/compare" "${small[@]}" "${cmp_args[@]}"
"$nas" slurm status --out "$work/compare"
"$nas" slurm check --require-array --out "$work/compare"
"$nas" compare -q --out "$work/compare-local"
diff "$work/compare/compare/results.csv" "$work/compare-local/compare/results.csv"
for d in "$work"/compare-local/search/*; do
    diff "$d/evaluated.jsonl" "$work/compare/search/$(basename "$d")/evaluated.jsonl"
done
echo "slurm-check: $(ls "$work/compare-local/search" | wc -l) searches and compare/results.csv identical"

say "5. a task that fails: status names it failed, with its exit code and log"
"$nas" train -q --out "$work/ends" "${small[@]}"
"$nas" search -q --out "$work/ends"
# The tasks wait a few seconds (--begin): long enough to damage the list of units they
# read (status reads it too, so it is put back once they failed).
out=$("$nas" slurm submit retrain -q --out "$work/ends" --sbatch-option=--begin=now+4)
echo "$out"
job=$(sed -n 's/^submitted job array \([0-9]*\).*/\1/p' <<<"$out")
units=$(ls -d "$work"/ends/slurm/retrain-*)/units.jsonl
mv "$units" "$units.kept"
echo 'not a unit' > "$units"
wait_for "$job"
mv "$units.kept" "$units"
status=$("$nas" slurm status --out "$work/ends" 2>&1 || true)
echo "$status"
grep -q 'failed (exit code 1): see .*task-0.log' <<<"$status" \
    || { echo "slurm-check: status does not name the failed task" >&2; exit 1; }
rm -rf "$work"/ends/slurm

say "6. a cancelled submission: nothing of it stays queued, status says cancelled"
out=$("$nas" slurm submit retrain -q --out "$work/ends" --merge --sbatch-option=--begin=now+600)
echo "$out"
job=$(sed -n 's/^submitted job array \([0-9]*\).*/\1/p' <<<"$out")
merge=$(sed -n 's/^submitted the merge job \([0-9]*\).*/\1/p' <<<"$out")
"$nas" slurm cancel --out "$work/ends"
sleep 1
if [ -n "$(squeue -h -j "$job,$merge" 2>/dev/null)" ]; then
    squeue -j "$job,$merge" -r >&2
    echo "slurm-check: jobs of the cancelled submission are still queued" >&2
    exit 1
fi
status=$("$nas" slurm status --out "$work/ends")
echo "$status"
grep -q '^ *0  cancelled' <<<"$status" \
    || { echo "slurm-check: status does not say cancelled" >&2; exit 1; }

say "7. a supernet unit past its time limit: signalled, requeued, same weights as here"
# Slurm checks time limits every 30 s or so and may send the signal up to 60 s before the
# margin asks (sbatch(1), --signal). A 2-minute limit with a 40 s margin is signalled
# between 100 s and 20 s before its end: every run trains at least 20 s (with a 1-minute
# limit and a 30 s margin, requeued runs were signalled within a second of their start,
# since Slurm starts them at its periodic check, and made 1 to 25 steps each), and a
# training longer than 80 s is always signalled at least once: 1536 steps take about 90 s
# on a quiet core here, more beside the local run below.
long=(--quick --set data.train_limit=4096 --set data.validation_limit=64 --set data.test_limit=64
    --set supernet.epochs=12 --set supernet.drop_path.r_max=0.5 --set search.budget=8
    --set search.eval_batch=64 --set retrain.train.epochs=1 --set retrain.eval_batch=64
    --set retrain.workers=1)
# First, beside it: a supernet unit that asks for no signal and cannot finish in time.
out=$("$nas" slurm submit study -q --out "$work/timeout" --rates 0.5 --archs 3 --select-archs 0 \
    "${long[@]}" --set supernet.epochs=60 --time=1 --signal-margin 0 --cpus-per-task 1)
echo "$out"
timeout_job=$(sed -n 's/^submitted job array \([0-9]*\).*/\1/p' <<<"$out")
out=$("$nas" slurm submit study -q --out "$work/limit" --rates 0.5 --archs 3 --select-archs 0 \
    "${long[@]}" --time=2 --signal-margin 40 --max-requeues 60 --cpus-per-task 1)
echo "$out"
job=$(sed -n 's/^submitted job array \([0-9]*\).*/\1/p' <<<"$out")
# The same supernet trained here meanwhile, on the other core, without a time limit.
RAYON_NUM_THREADS=1 "$nas" train -q --out "$work/limit-local" "${long[@]}" &
local_pid=$!
# Slurm holds a requeued task for about 2 minutes (its BeginTime) before it may start
# again; the check shortens that to 15 s, to save CI time (the user's cluster waits).
# Not to 0: a task started again within a second of its requeue is refused ("Job
# credential revoked": the node has not finished with the last run) and fails.
( while [ -n "$(squeue -h -j "$job" 2>/dev/null)" ]; do
      squeue -h -j "$job" -r -t PENDING -o '%i %r %S' 2>/dev/null \
          | while read -r t reason begin; do
              [ "$reason" = BeginTime ] || continue
              wait_s=$(( $(date -d "$begin" +%s 2>/dev/null || echo 0) - $(date +%s) ))
              if [ "$wait_s" -gt 30 ]; then
                  scontrol update JobId="$t" StartTime=now+15 >/dev/null 2>&1 || true
              fi
          done
      sleep 2
  done ) &
nudge_pid=$!
# The timed-out unit's status first, as soon as its job ends: without accounting, status
# reads the end state from scontrol, which forgets a finished job after MinJobAge (300 s),
# and the requeued supernet below can take longer than that.
wait_for "$timeout_job"
status=$("$nas" slurm status --out "$work/timeout" 2>&1 || true)
echo "$status"
grep -Eq '^ *[0-9]+  timed out: see .*task-[0-9]+.log' <<<"$status" \
    || { echo "slurm-check: status does not name the timed-out task" >&2; exit 1; }
# At most 5 or so runs of 20 s or more, each followed by a hold of about 15 s.
wait_for "$job" 1800
wait "$nudge_pid" || true
wait "$local_pid"
status=$("$nas" slurm status --out "$work/limit")
echo "$status"
folder=$(ls -d "$work"/limit/slurm/study-*)
task=$(grep -n '"supernet"' "$folder/units.jsonl" | cut -d: -f1)
task=$((task - 1))
grep -q "stopped by SIGUSR1 with a checkpoint" "$folder/task-$task.log" \
    || { cat "$folder/task-$task.log" >&2; echo "slurm-check: the supernet task was not signalled" >&2; exit 1; }
requeues=$(grep -c "requeued (" "$folder/task-$task.log" || true)
echo "slurm-check: the supernet task requeued itself $requeues time(s); its log:"
grep -E "stopped by|requeued|resuming" "$folder/task-$task.log" | sed 's/^/  /'
[ "$requeues" -ge 1 ] || { echo "slurm-check: the supernet task never requeued itself" >&2; exit 1; }
grep -Eq "^ *$task  done by slurm:${job}_$task, requeued (once|[0-9]+ times)" <<<"$status" \
    || { echo "slurm-check: status does not show the requeued supernet task as done and requeued" >&2; exit 1; }
# Same per-epoch figures (exact floats), and the same one-shot scores in a search.
history() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["history"]))' "$1"/supernet/*/progress.json; }
diff <(history "$work/limit") <(history "$work/limit-local")
"$nas" search -q --out "$work/limit" "${long[@]}"
"$nas" search -q --out "$work/limit-local" "${long[@]}"
diff "$(ls "$work"/limit/search/*/evaluated.jsonl)" "$(ls "$work"/limit-local/search/*/evaluated.jsonl)"
echo "slurm-check: the requeued supernet's epochs and one-shot scores equal the local one's"

say "passed: array tasks under slurmd give what a local run gives"
passed=1
