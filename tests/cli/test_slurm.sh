#!/usr/bin/env bash
# Slurm: on a real one-node Slurm cluster on localhost
# (tests/slurm/slurm_local.sh), a batch job's `srun --mpi=pmix -n 3` starts
# autobuild as one MPI world of 3 ranks; the sbatch template
# slurm/autobuild-1node.sbatch requeues itself when the search stops on the
# time-limit signal, adds --resume when a requeued job finds its store and
# appends to its log; and a search interrupted twice (SIGUSR1, then a
# preemption-style `scontrol requeue`) goes on where it stopped and spends
# exactly its budget.
# Skips (exit 0, "SKIP: ...") when not root or when Slurm cannot be installed
# or started here.
# usage: test_slurm.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SL=$ROOT/tests/slurm/slurm_local.sh
TEMPLATE=$ROOT/slurm/autobuild-1node.sbatch
MPIRT=$(dirname "$AB")/tests/mpi_runtime # built next to the binary, if tests are built
# Open MPI's plugins leak at start-up (see tests/CMakeLists.txt)
export ASAN_OPTIONS=detect_leaks=0

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: test_slurm needs root (it starts munged, slurmctld and slurmd)"
  exit 0
fi
T=$(mktemp -d /tmp/ab_slurm_XXXXXX)
chmod 0755 "$T"
started=0
cleanup() {
  [ $started = 1 ] && bash "$SL" stop > /dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1

# start the cluster unless it is up already (then leave it up at the end)
if ! bash "$SL" status > /dev/null 2>&1; then
  started=1
  bash "$SL" start > start.txt 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    cat start.txt
    echo "SKIP: cannot start a local Slurm cluster here (slurm_local.sh start: exit $rc)"
    exit 0
  fi
fi
eval "$(bash "$SL" env)"
export SLURM_CONF

# job_field JOBID FIELD: one field of `scontrol show job`
job_field() { scontrol show job -o "$1" 2> /dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# wait_done JOBID MIN_RESTARTS SECONDS: until the job has ended after at least
# MIN_RESTARTS requeues; prints its final state
wait_done() {
  local st
  for _ in $(seq 1 $(($3 * 2))); do
    st=$(job_field "$1" JobState)
    case $st in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE)
        [ "$(job_field "$1" Restarts)" -ge "$2" ] 2> /dev/null && { echo "$st"; return 0; } ;;
    esac
    sleep 0.5
  done
  echo "${st:-unknown}"
  return 1
}
# wait_log FILE REGEX SECONDS
wait_log() {
  for _ in $(seq 1 $(($3 * 4))); do
    grep -qE -- "$2" "$1" 2> /dev/null && return 0
    sleep 0.25
  done
  return 1
}

# --- (a) srun --mpi=pmix -n 3 in a batch job ---------------------------------------------
srun --mpi=list 2>&1 | grep -qw pmix && ok || bad "srun --mpi=list has no pmix: $(srun --mpi=list 2>&1)"
cat > a.sbatch << EOF
#!/usr/bin/env bash
#SBATCH --job-name=ab-test-a
#SBATCH --ntasks=3
#SBATCH --time=00:05:00
#SBATCH --output=a-%j.log
srun --mpi=pmix -n 3 "$AB" space info ofa_mbv3 || exit 1
if [ -x "$MPIRT" ]; then srun --mpi=pmix -n 3 "$MPIRT" || exit 1; fi
EOF
timeout 120 sbatch --wait --parsable a.sbatch > a.jid 2> a.err
rc=$?
jid=$(head -n 1 a.jid)
[ $rc -eq 0 ] && ok || bad "batch job srun --mpi=pmix -n 3: exit $rc ($(cat a.err a-*.log 2> /dev/null))"
[ "$(job_field "$jid" JobState)" = COMPLETED ] && ok || bad "job $jid: $(job_field "$jid" JobState)"
# rank 0 alone prints: once means the 3 ranks formed one MPI world (3 singletons print 3 times)
[ "$(grep -c '^space ofa_mbv3 (built-in)' a-"$jid".log 2> /dev/null)" = 1 ] && ok ||
  bad "space info printed once by rank 0 of 3: $(cat a-"$jid".log)"
grep -q "units (modules that are scored and mutated): 5" a-"$jid".log && ok || bad "space info output incomplete"
if [ -x "$MPIRT" ]; then
  grep -q "mpi_runtime (3 ranks): ok" a-"$jid".log && ok || bad "mpi_runtime under srun: $(cat a-"$jid".log)"
fi
# an interactive job step too
srun --mpi=pmix -n 3 "$AB" space info ofa_mbv3 > a2.txt 2>&1 && ok || bad "srun -n 3 space info: $(cat a2.txt)"
[ "$(grep -c '^space ofa_mbv3' a2.txt)" = 1 ] && ok || bad "interactive srun: $(cat a2.txt)"

# --- (a') the 1-node template: self-requeue, --resume, appended log (a stand-in) ----------
# fake-ab.sh plays `autobuild search`: rank 0 counts evaluations 1..8 in the
# store and, like the real one, exits with status 75 on SIGUSR1 or SIGTERM
cat > fake-ab.sh << 'EOF'
#!/usr/bin/env bash
[ "$1" = search ] || exit 2
shift
[ "${SLURM_PROCID:-0}" = 0 ] || exit 0
echo "fake search args: $*"
trap 'echo "fake search: signal, saved"; exit 75' TERM USR1
store=fake.store
n=$(cat "$store" 2> /dev/null || echo 0)
while [ "$n" -lt 8 ]; do
  n=$((n + 1))
  echo "$n" > "$store.tmp" && mv "$store.tmp" "$store"
  echo "evaluations $n"
  sleep 0.5 & wait
done
EOF
chmod +x fake-ab.sh
printf 'search:\n  space: ofa_mbv3\nstore: fake.store # the store\n' > fake.yaml
jid=$(AUTOBUILD=$T/fake-ab.sh sbatch --parsable --ntasks=3 --time=00:05:00 --job-name=ab-test-tpl \
  "$TEMPLATE" fake.yaml 2> tpl.err)
log=autobuild-search-$jid.log
if [ -z "$jid" ]; then
  bad "sbatch of the template: $(cat tpl.err)"
elif ! wait_log "$log" '^evaluations 2$' 60; then
  bad "template job $jid made no progress: $(cat "$log" 2> /dev/null)"
else
  # what --signal=USR1@120 does before the time limit; the template requeues itself
  scancel --signal=USR1 "$jid" && ok || bad "scancel --signal=USR1 $jid"
  st=$(wait_done "$jid" 1 90) && ok || bad "requeued template job did not finish: $st"
  [ "$st" = COMPLETED ] && ok || bad "requeued template job $jid: $st: $(cat "$log")"
  [ "$(cat fake.store 2> /dev/null)" = 8 ] && ok || bad "fake store: $(cat fake.store 2> /dev/null)"
  grep -q "restart 0 .*store ./fake.store *$" "$log" && ok || bad "first run without --resume: $(cat "$log")"
  grep -q "status 75" "$log" && grep -q "requeueing job $jid" "$log" && ok ||
    bad "status 75 makes the job requeue itself: $(cat "$log")"
  grep -q "restart 1 .*resuming with --resume" "$log" && ok || bad "requeued run resumes: $(cat "$log")"
  grep -q "^fake search args: --config fake.yaml$" "$log" && ok || bad "first run arguments: $(cat "$log")"
  grep -q "^fake search args: --config fake.yaml --resume$" "$log" && ok || bad "--resume added: $(cat "$log")"
  grep -q "^evaluations 1$" "$log" && grep -q "^evaluations 8$" "$log" && ok ||
    bad "--open-mode=append keeps both runs in the log: $(cat "$log")"
fi

# --- (b) a real search, interrupted twice (once `autobuild search` exists) -----------------
if "$AB" search --help > /dev/null 2>&1; then
  cat > c.yaml << 'EOF'
search:
  space: ofa_mbv3
  variant: stage_full
  init: 20
  iterations: 8
  per_iteration: 20
  stage_mutate_prob: 0.5
  seed: 1
  objectives:
    - {metric: acc, goal: max, ref: 0.0}
    - {metric: latency, goal: min, ref: 100.0}
evaluators:
  - {type: synthetic, sleep_ms: 200}
store: run.h5
EOF
  budget=$((20 + 8 * 20)) # about 18 s on 2 evaluating ranks
  have_report=0
  "$AB" report --help > /dev/null 2>&1 && have_report=1
  # evals FILE: the "evaluations" number of a JSON answer
  evals() { grep -o '"evaluations": *[0-9]*' "$1" 2> /dev/null | head -n 1 | grep -o '[0-9]*$'; }
  jid=$(AUTOBUILD=$AB sbatch --parsable --ntasks=3 --time=00:10:00 --job-name=ab-test-search \
    "$TEMPLATE" c.yaml 2> b.err)
  log=autobuild-search-$jid.log
  # progress N K: run N (the lines after the template's "restart N" line) has
  # finished iteration K or later (a resumed run first replays the recorded ones)
  progress() {
    awk -v r="restart $1 " -v k="$2" 'index($0, r) { on = 1 }
      on && match($0, /iteration [0-9]+\/8: /) { it = substr($0, RSTART + 10) + 0; if (it >= k) n++ }
      END { exit !n }' "$log" 2> /dev/null
  }
  wait_progress() { # N K SECONDS
    for _ in $(seq 1 $(($3 * 4))); do
      progress "$1" "$2" && return 0
      case $(job_field "$jid" JobState) in COMPLETED | FAILED | CANCELLED) return 1 ;; esac
      sleep 0.25
    done
    return 1
  }
  if [ -z "$jid" ]; then
    bad "sbatch of the search: $(cat b.err)"
  elif ! wait_progress 0 0 60; then
    bad "search job $jid shows no progress: $(cat "$log" 2> /dev/null)"
  else
    if [ $have_report = 1 ]; then # the store of a live run can be read
      "$AB" report run.h5 --json > r0.json 2> /dev/null
      [ "$(evals r0.json)" -gt 0 ] 2> /dev/null && ok || bad "report of the live store: $(cat r0.json)"
    fi
    # the time-limit warning (--signal=USR1@120): the ranks save and stop, the template requeues
    scancel --signal=USR1 "$jid" && ok || bad "scancel --signal=USR1 $jid"
    wait_progress 1 2 60 && ok || bad "no progress after the USR1 requeue: $(tail -n 20 "$log")"
    # preemption / an administrator's requeue: SIGTERM to everything, Slurm requeues
    scontrol requeue "$jid" && ok || bad "scontrol requeue $jid"
    st=$(wait_done "$jid" 2 150) && ok || bad "requeued search did not finish: $st"
    [ "$st" = COMPLETED ] && ok || bad "requeued search job $jid: $st: $(tail -n 20 "$log")"
    # (the batch shell that a requeue ends does not get to log the status 75)
    [ "$(grep -c 'interrupted: .* saved' "$log")" = 2 ] && ok || bad "two interrupted runs: $(cat "$log")"
    grep -q "search exited with status 75" "$log" && ok || bad "status 75 on USR1: $(cat "$log")"
    grep -q "requeueing job $jid" "$log" && ok || bad "USR1: the template requeues: $(cat "$log")"
    grep -q "restart 1 .*resuming with --resume" "$log" && ok || bad "run 2 resumes: $(cat "$log")"
    grep -q "restart 2 .*resuming with --resume" "$log" && ok || bad "run 3 resumes: $(cat "$log")"
    grep -q "search exited with status 0" "$log" && ok || bad "the last run completes: $(cat "$log")"
    if [ $have_report = 1 ]; then
      "$AB" report run.h5 --json > r.json 2> r.err && ok || bad "report run.h5: $(cat r.err)"
      [ "$(evals r.json)" = "$budget" ] && ok || bad "report: evaluations $(evals r.json), expected $budget"
    fi
    # a rerun of a finished search is a no-op that reports the same budget
    srun --mpi=pmix -n 3 "$AB" search --config c.yaml --resume --json > n.json 2> n.err && ok ||
      bad "no-op rerun: $(cat n.err)"
    [ "$(evals n.json)" = "$budget" ] && ok || bad "no-op rerun: evaluations $(evals n.json), expected $budget"
  fi
else
  echo "note: autobuild has no 'search' command yet; the search part of this test is skipped"
fi

echo "test_slurm: $pass passed, $fail failed"
[ $fail -eq 0 ]
