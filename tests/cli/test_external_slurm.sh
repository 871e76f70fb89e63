#!/usr/bin/env bash
# External jobs as Slurm batch jobs (`launch: sbatch`) on a real one-node
# Slurm cluster on localhost (tests/slurm/slurm_local.sh): `autobuild
# evaluate` under mpirun -np 5 submits one batch job per candidate (4); one
# job fails once and is submitted again (retries: 1); the coordinator is
# preempted (rank 0, mpirun and the other ranks killed with SIGKILL) while
# the batch jobs run; they go on, and the resumed run re-attaches to them
# (no second sbatch: one attempt<K>.sh per submission, and Slurm's own job
# list has one job per submission) and collects every result. A worker
# killed between sbatch and recording the job id (AUTOBUILD_TEST_CRASH):
# the rerun finds the batch job by name and re-attaches, one submission.
# Skips (exit 0, "SKIP: ...") when not root, without mpirun, or when Slurm
# cannot be installed or started here.
# usage: test_external_slurm.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
MPIEXEC=${3:-mpirun}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SL=$ROOT/tests/slurm/slurm_local.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=detect_leaks=0

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: test_external_slurm needs root (it starts munged, slurmctld and slurmd)"
  exit 0
fi
if ! command -v "$MPIEXEC" > /dev/null; then
  echo "SKIP: test_external_slurm needs $MPIEXEC"
  exit 0
fi
T=$(mktemp -d /tmp/ab_xslurm_XXXXXX)
chmod 0755 "$T"
started=0
cleanup() {
  # our batch jobs (named ab-<hash>) if any are left, then the cluster if we started it
  for d in "$T"/run.h5.jobs/* "$T"/sub.h5.jobs/*; do
    [ -d "$d" ] && scancel --name "ab-$(basename "$d")" > /dev/null 2>&1
  done
  [ $started = 1 ] && bash "$SL" stop > /dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1
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

# 4 architectures (a fresh seed, so that job names never meet an earlier run's
# in Slurm's list), reference statistics, the job: 6 s, and the first
# architecture fails its first attempt
seed=$(( $(date +%s) % 100000 + 7 ))
"$AB" data sample --space sd_unet --n 4 --seed $seed --out a.jsonl 2> /dev/null
"$AB" test-double job --reference --result ref_feats.h5 --rows 64 --dims 16 &&
  "$AB" fid stats ref_feats.h5 --out ref.h5 2> /dev/null && ok || bad "reference statistics"
cat > job.sh << EOF
#!/bin/sh
# job.sh ARCH_FILE RESULT ATTEMPT
if [ "\$3" = 1 ] && [ "\$(cat "\$1")" = "\$(head -n 1 $T/a.jsonl)" ]; then
  echo "job.sh: failing attempt 1 on purpose" >&2
  exit 3
fi
exec "$AB" test-double job --arch "\$1" --result "\$2" --rows 64 --dims 16 --sleep-ms 6000
EOF
chmod +x job.sh
cat > e.yaml << 'EOF'
space: sd_unet
archs: a.jsonl
evaluators:
  - type: external
    command: [./job.sh, "{arch_file}", "{result}", "{attempt}"]
    metrics: [fid]
    fid_reference: ref.h5
    launch: sbatch
    launch_args: [--ntasks=1]
    timeout: 300
    retries: 1
    backoff: 0
    poll: 0.5
store: run.h5
EOF
# jobs_of HASH: Slurm's jobs named ab-HASH (pending, running or ended)
jobs_of() { scontrol show jobs -o 2> /dev/null | grep -c "JobName=ab-$1 "; }
first=""

# --- submit, retry one, then the coordinator is preempted while the batch jobs run ------------
timeout 120 "$MPIEXEC" --oversubscribe -np 5 "$AB" evaluate --config e.yaml --json > e1.json 2> e1.err &
pid=$!
running=0
for _ in $(seq 1 400); do
  running=$(squeue -h -t RUNNING -o %j 2> /dev/null | grep -c '^ab-')
  retried=$(ls run.h5.jobs/*/attempt2.sh 2> /dev/null | wc -l)
  [ "$running" -ge 4 ] && [ "$retried" = 1 ] && break
  sleep 0.1
done
[ "$running" -ge 4 ] && [ "$retried" = 1 ] && ok ||
  bad "4 batch jobs running and one resubmitted: $running running, $retried resubmitted ($(tail -3 e1.err))"
coord=""
for p in $(pgrep -P $pid); do # timeout -> the launcher -> the ranks
  for q in $(pgrep -P "$p"); do
    grep -qz '^OMPI_COMM_WORLD_RANK=0$' /proc/$q/environ 2> /dev/null && coord=$q
  done
done
if [ -z "$coord" ]; then
  bad "no coordinator found to kill"
else
  launcher=$(ps -o ppid= -p "$coord" | tr -d ' ')
  kill -9 "$coord"
  kill -9 $(pgrep -P "$launcher") "$launcher" 2> /dev/null
fi
wait $pid 2> /dev/null
[ "$(squeue -h -o %j 2> /dev/null | grep -c '^ab-')" -ge 3 ] && ok ||
  bad "the batch jobs did not survive the coordinator: $(squeue 2> /dev/null)"
grep -q '"state": "running"' run.h5.jobs/*/state.json && ok || bad "no job recorded as running at the kill"

# --- resume: re-attach, collect, never submit twice ------------------------------------------
timeout 120 "$MPIEXEC" --oversubscribe -np 5 "$AB" evaluate --config e.yaml --json > e2.json 2> e2.err
rc=$?
[ $rc = 0 ] && [ "$(jget e2.json recorded)" = 4 ] && [ "$(jget e2.json failed)" = 0 ] && ok ||
  bad "resumed: exit $rc $(tail -1 e2.json) $(tail -3 e2.err)"
[ "$(grep -c 're-attaching to attempt [12] (sbatch)' e2.err)" -ge 3 ] && ok ||
  bad "the resumed run did not re-attach: $(grep -v INFO e2.err | head -5)"
first=$(head -n 1 a.jsonl)
n=0
for d in run.h5.jobs/*; do
  h=$(basename "$d")
  if [ "$(cat "$d/arch.json")" = "$first" ]; then
    want=2
    grep -q 'attempt 1: exit status 3; stderr: job.sh: failing attempt 1 on purpose' "$d/state.json" || bad "$h: the failed attempt is not in its history"
  else
    want=1
  fi
  sh=$(ls "$d"/attempt*.sh | wc -l)
  if [ "$sh" = $want ] && [ "$(jobs_of "$h")" = $want ] && grep -q '"state": "done"' "$d/state.json" &&
    [ $(($(grep -c '"attempt":' "$d/state.json") - 1)) = $want ]; then
    n=$((n + 1))
  else
    bad "$h: $sh scripts, $(jobs_of "$h") Slurm jobs, expected $want: $(cat "$d/state.json")"
  fi
done
[ $n = 4 ] && ok || bad "$n of 4 jobs submitted exactly as often as needed"
"$AB" report run.h5 --csv run.csv > /dev/null 2>&1
[ "$(grep -c '^[0-9]*,0,0,[0-9.]*,' run.csv)" = 4 ] && ok || bad "store: $(cat run.csv)"

# --- a worker killed between sbatch and recording the job id: the rerun finds the job by name --
"$AB" data sample --space sd_unet --n 1 --seed $((seed + 50000)) --out b.jsonl 2> /dev/null
sed -e 's/^archs: a.jsonl/archs: b.jsonl/' -e 's/^store: run.h5/store: sub.h5/' e.yaml > sub.yaml
AUTOBUILD_TEST_CRASH=job:after-submit "$AB" evaluate --config sub.yaml > sub1.txt 2> sub1.err
rc=$?
[ $rc = 137 ] && grep -q '"state": "submitting"' sub.h5.jobs/*/state.json && ok ||
  bad "a worker killed right after sbatch: exit $rc, state $(cat sub.h5.jobs/*/state.json 2> /dev/null | tr -d '\n')"
"$AB" evaluate --config sub.yaml --json > sub2.json 2> sub2.err
h=$(basename sub.h5.jobs/*)
[ "$(jget sub2.json recorded)" = 1 ] && [ "$(jget sub2.json failed)" = 0 ] &&
  grep -q "found Slurm batch job [0-9]* after an interrupted submission" sub2.err &&
  [ "$(ls sub.h5.jobs/"$h"/attempt*.sh | wc -l)" = 1 ] && [ "$(jobs_of "$h")" = 1 ] && ok ||
  bad "after a kill between sbatch and its record: $(tail -1 sub2.json), $(jobs_of "$h") Slurm jobs, $(grep -v INFO sub2.err | head -3)"

echo "test_external_slurm: $pass passed, $fail failed"
[ $fail = 0 ]
