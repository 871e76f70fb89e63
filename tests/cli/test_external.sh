#!/usr/bin/env bash
# External jobs (the `external` evaluator, worker/jobs) through
# `autobuild evaluate`, `autobuild search` and `autobuild campaign`, with
# `autobuild test-double job` as the job: jobs that succeed, fail once and
# succeed on the retry, always fail, hang past the timeout, write garbage or
# no result (their reasons recorded, the run goes on, the job directories'
# state.json and attempt files checked); a result without a metric and
# features of the wrong width fail the candidate; evaluate resumes without
# launching a job twice, refuses a store of another configuration and a
# second run on its store, stops on SIGTERM (in-process, at once even while a
# long job runs, which is left running and re-attached) and SIGUSR1 (under
# mpirun, jobs left running and re-attached) with status 75; bad input
# (unknown placeholder, missing program, a non-symmetric reference
# covariance, bad lines) fails with one line and exit 2, writing nothing.
# usage: test_external.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
MPIEXEC=${3:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=detect_leaks=0
in_scratch external
have_mpi=0
command -v "$MPIEXEC" > /dev/null && have_mpi=1
launch() { # NP CMD...: under mpirun when there is one, else plain
  local np=$1
  shift
  if [ $have_mpi = 1 ]; then timeout 120 "$MPIEXEC" --oversubscribe -np "$np" "$@"; else "$@"; fi
}

# reference statistics (64 x 16 features of the test double) and architectures
"$AB" test-double job --reference --result ref_feats.h5 --rows 64 --dims 16 &&
  "$AB" fid stats ref_feats.h5 --out ref.h5 2> /dev/null && ok || bad "reference statistics"
"$AB" data sample --space sd_unet --n 6 --seed 3 --out a.jsonl 2> /dev/null
head -n 4 a.jsonl > a4.jsonl
head -n 1 a.jsonl > a1.jsonl

# td EXTRA...: the test double's command as a YAML list
td() {
  local s="[\"$AB\", test-double, job, --arch, \"{arch_file}\", --result, \"{result}\", --attempt, \"{attempt}\", --rows, 64, --dims, 16"
  for a in "$@"; do s="$s, \"$a\""; done
  echo "$s]"
}
# cfg FILE STORE COMMAND [MORE_EVALUATOR_KEYS] [ARCHS] [MORE_TOP_LEVEL_LINES]
cfg() {
  cat > "$1" << EOF
space: sd_unet
archs: ${5:-a4.jsonl}
evaluators:
  - {type: external, command: $3, metrics: [fid], fid_reference: ref.h5, backoff: 0, poll: 0.05${4:+, $4}}
store: $2
${6:-}
EOF
}
state() { sed -n 's/^ "state": "\(.*\)",*$/\1/p' "$1/state.json"; }
history() { # DIR: the number of attempts in its state.json history
  echo $(($(grep -c '"attempt":' "$1/state.json") - 1))
}
csv_of() { # STORE: every evaluation as CSV (report --csv) into STORE.csv
  "$AB" report "$1" --csv "$1.csv" > /dev/null 2>&1
}

# --- jobs that succeed; the FID from their features; resume launches nothing ------------
cfg ok.yaml ok.h5 "$(td)" "" a4.jsonl "dataset: ok_data.h5"
"$AB" evaluate --config ok.yaml --json > ok1.json 2> ok1.err
[ $? = 0 ] && [ "$(jget ok1.json evaluated)" = 4 ] && [ "$(jget ok1.json failed)" = 0 ] &&
  [ "$(jget ok1.json recorded)" = 4 ] && ok || bad "succeeding jobs: $(tail -1 ok1.json) $(tail -2 ok1.err)"
[ "$(ls ok.h5.jobs | wc -l)" = 4 ] && ok || bad "4 job directories: $(ls ok.h5.jobs)"
n=0
for d in ok.h5.jobs/*; do
  [ "$(state "$d")" = done ] && [ "$(history "$d")" = 1 ] && [ -f "$d/attempt1.out" ] &&
    [ -f "$d/attempt1.err" ] && [ ! -e "$d/attempt2.out" ] && [ -s "$d/result.h5" ] &&
    [ -s "$d/arch.json" ] && grep -qF "$(cat "$d/arch.json")" a4.jsonl && n=$((n + 1))
done
[ $n = 4 ] && ok || bad "job directories: $n of 4 done after one attempt ($(cat ok.h5.jobs/*/state.json | head -30))"
# the supervisor's start time identifies it across pid reuse (field 22 of /proc/PID/stat)
[ "$(grep -l '"pid_start": "[1-9][0-9]*"' ok.h5.jobs/*/state.json | wc -l)" = 4 ] && ok ||
  bad "pid_start not recorded: $(grep -h pid_start ok.h5.jobs/*/state.json)"
[ "$("$AB" data info ok_data.h5 --json | sed -n 's/.*"n":\([0-9]*\).*/\1/p')" = 4 ] && ok ||
  bad "dataset: $("$AB" data info ok_data.h5 2>&1)"
# the store's fid is the FID of the job's features against the reference
csv_of ok.h5
d=$(ls -d ok.h5.jobs/* | head -n 1)
want=$("$AB" fid --a "$d/result.h5" --b ref.h5 --json 2> /dev/null | tail -1 | sed -n 's/.*"fid":\([-0-9.eE+]*\).*/\1/p')
got=$(grep -F "$(sed 's/"/""/g' "$d/arch.json")" ok.h5.csv | cut -d, -f4)
awk -v a="$want" -v b="$got" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-9 * a) }' && ok ||
  bad "fid in the store $got, autobuild fid says $want"
"$AB" evaluate --config ok.yaml --json > ok2.json 2> ok2.err
[ "$(jget ok2.json evaluated)" = 0 ] && [ "$(jget ok2.json recorded)" = 4 ] && grep -q '^\[evaluate\] resuming ok.h5: 4 evaluations recorded' ok2.err &&
  ok || bad "rerun: $(tail -1 ok2.json) $(cat ok2.err)"
n=0
for d in ok.h5.jobs/*; do [ "$(history "$d")" = 1 ] && n=$((n + 1)); done
[ $n = 4 ] && ok || bad "rerun launched jobs again"
# how jobs run (timeout, retries, polling) may change between runs of a store
cfg ok.yaml ok.h5 "$(td)" "timeout: 99, retries: 2, launch: local" a4.jsonl "dataset: ok_data.h5"
"$AB" evaluate --config ok.yaml > ok3.txt 2> /dev/null
grep -q "ok.yaml: 4 architectures, 4 recorded (0 failed), 0 evaluated by this run" ok3.txt && ok ||
  bad "text summary: $(cat ok3.txt)"

# --- one job of each kind in one run (a wrapper script picks the test double's mode) ---------
# modes.sh ARCH_FILE RESULT ATTEMPT [MODES]: the test double in the mode that
# modes.txt gives the architecture ("MODE<TAB>JSON"), else in one of MODES
# picked by the architecture's checksum
cat > modes.sh << 'EOF'
#!/bin/sh
arch=$(cat "$1")
mode=$(awk -F '\t' -v a="$arch" '$2 == a { print $1 }' "@T@/modes.txt" 2> /dev/null)
if [ -z "$mode" ]; then
  set -- "$1" "$2" "$3" ${4:-ok once fail hang garbage noresult ok ok}
  k=$(( $(cksum < "$1" | cut -d ' ' -f 1) % ($# - 3) + 4 ))
  eval mode=\${$k}
fi
td() {
  a=$1 r=$2 k=$3
  shift 3
  exec "@AB@" test-double job --arch "$a" --result "$r" --attempt "$k" --rows 64 --dims 16 "$@"
}
case $mode in
  ok) td "$1" "$2" "$3" ;;
  once) td "$1" "$2" "$3" --fail-attempts 1 ;;
  fail) td "$1" "$2" "$3" --fail-attempts 99 ;;
  hang) td "$1" "$2" "$3" --hang ;;
  garbage) td "$1" "$2" "$3" --garbage ;;
  noresult) td "$1" "$2" "$3" --no-result ;;
esac
echo "modes.sh: unknown mode '$mode'" >&2
exit 9
EOF
sed -i "s#@T@#$T#; s#@AB@#$AB#" modes.sh
chmod +x modes.sh
paste <(printf 'ok\nonce\nfail\nhang\ngarbage\nnoresult\n') a.jsonl > modes.txt
cfg mixed.yaml mixed.h5 "[./modes.sh, \"{arch_file}\", \"{result}\", \"{attempt}\"]" "retries: 1, timeout: 2" a.jsonl \
  "dataset: mixed_data.h5"
launch 4 "$AB" evaluate --config mixed.yaml --json > mixed.json 2> mixed.err
[ $? = 0 ] && [ "$(jget mixed.json evaluated)" = 6 ] && [ "$(jget mixed.json failed)" = 4 ] &&
  [ "$(jget mixed.json recorded)" = 6 ] && ok || bad "mixed jobs: $(tail -1 mixed.json) $(tail -3 mixed.err)"
[ "$("$AB" data info mixed_data.h5 --json | sed -n 's/.*"n":\([0-9]*\).*/\1/p')" = 2 ] && ok ||
  bad "mixed: the dataset holds the 2 successes"
csv_of mixed.h5
# reason MODE: the store's error text of the architecture in that mode
reason() { grep -F "$(grep "^$1	" modes.txt | cut -f 2 | sed 's/"/""/g')" mixed.h5.csv | cut -d, -f8; }
# dir_of MODE: its job directory
dir_of() {
  local d
  for d in mixed.h5.jobs/*; do
    [ "$(cat "$d/arch.json")" = "$(grep "^$1	" modes.txt | cut -f 2)" ] && { echo "$d"; return; }
  done
}
[ "$(reason ok)" = '""' ] && [ "$(reason once)" = '""' ] && ok || bad "ok/once recorded an error: $(reason ok) $(reason once)"
d=$(dir_of once)
[ "$(state "$d")" = done ] && [ "$(history "$d")" = 2 ] && grep -q "failing attempt 1" "$d/attempt1.err" &&
  [ -f "$d/attempt2.out" ] && grep -q '"outcome": "attempt 1: exit status 3' "$d/state.json" && ok ||
  bad "fail once, then succeed: $(cat "$d/state.json")"
d=$(dir_of fail)
reason fail | grep -q "attempt 2: exit status 3; stderr: test double: failing attempt 2 of the first 99 on purpose" &&
  [ "$(state "$d")" = failed ] && [ "$(history "$d")" = 2 ] && ok ||
  bad "always failing: '$(reason fail)' $(cat "$d/state.json")"
d=$(dir_of hang)
reason hang | grep -q "attempt 2: timed out after 2 s" && [ "$(state "$d")" = failed ] && ok ||
  bad "hanging: '$(reason hang)'"
ps -eo args | grep -v grep | grep -q "mixed.h5.jobs/.*--hang" && bad "a hanging job is still running" || ok
reason garbage | grep -q "attempt 2: .*result.h5: the result is not an HDF5 file" && ok || bad "garbage: '$(reason garbage)'"
reason noresult | grep -q "attempt 2: exit status 0 but no result file result.h5" && ok ||
  bad "no result: '$(reason noresult)'"
"$AB" evaluate --config mixed.yaml > mixed2.txt 2> /dev/null
grep -q "6 recorded (4 failed), 0 evaluated" mixed2.txt && grep -q "timed out after 2 s" mixed2.txt && ok ||
  bad "text summary lists the failures: $(cat mixed2.txt)"

# --- a result without a requested metric, features of the wrong width ---------------------
cfg other.yaml other.h5 "$(td --fid-only)" "" a1.jsonl
sed -i 's/metrics: \[fid\]/metrics: [fid, other]/' other.yaml
"$AB" evaluate --config other.yaml --json > other.json 2> /dev/null
csv_of other.h5
[ "$(jget other.json failed)" = 1 ] && grep -q "result.h5: no metric 'other' (a root attribute or scalar dataset)" other.h5.csv &&
  ok || bad "missing metric: $(tail -1 other.json) $(cat other.h5.csv)"
cfg width.yaml width.h5 "$(td --dims 8)" "" a1.jsonl
"$AB" evaluate --config width.yaml --json > width.json 2> /dev/null
csv_of width.h5
[ "$(jget width.json failed)" = 1 ] && grep -q "features against fid_reference: .*result.h5 has 8 features per row but ./ref.h5 has 16" width.h5.csv &&
  ok || bad "wrong width: $(tail -1 width.json) $(cut -d, -f8 width.h5.csv)"

# --- autobuild search: the same jobs, recorded with their reasons -----------------------------
cat > s.yaml << EOF
search:
  space: sd_unet
  init: 8
  iterations: 1
  per_iteration: 4
  seed: 2
  objectives:
    - {metric: fid, goal: min, ref: 100}
evaluators:
  - {type: external, command: [./modes.sh, "{arch_file}", "{result}", "{attempt}"], metrics: [fid],
     fid_reference: ref.h5, retries: 1, timeout: 2, backoff: 0, poll: 0.05}
store: s.h5
EOF
launch 4 "$AB" search --config s.yaml --json > s.json 2> s.err
csv_of s.h5
nf=$(jget s.json failed)
[ "$(jget s.json evaluations)" = 12 ] && [ -n "$nf" ] && [ "$nf" -gt 0 ] && [ "$nf" -lt 12 ] && ok ||
  bad "search: $(tail -1 s.json) $(tail -2 s.err)"
[ "$(ls s.h5.jobs | wc -l)" = 12 ] && ok || bad "search: 12 job directories in s.h5.jobs"
# every failure has one of the test double's reasons; a retried success has two attempts
[ "$(cut -d, -f8 s.h5.csv | grep -c 'attempt 2: \(exit status 3\|timed out\|.*not an HDF5\|exit status 0 but no result\)')" = "$nf" ] &&
  ok || bad "search: failure reasons: $(cut -d, -f3,8 s.h5.csv)"
n=0
for d in s.h5.jobs/*; do [ "$(state "$d")" = done ] && [ "$(history "$d")" = 2 ] && n=$((n + 1)); done
[ $n -gt 0 ] && ok || bad "search: no job that failed once and then succeeded"

# --- the campaign records failures and goes on --------------------------------------------------
cat > c.yaml << EOF
campaign: {dir: camp, space: sd_unet, seed: 1}
data:
  n: 20
  evaluators:
    - {type: external, command: [./modes.sh, "{arch_file}", "{result}", "{attempt}", ok ok ok ok ok ok fail garbage],
       metrics: [fid], fid_reference: ref.h5, backoff: 0, poll: 0.05}
predictors:
  - {name: fid, target: -fid, epochs: 2, hidden: 8, layers: 2}
modules: {k: 2, select: constrained}
search:
  init: 4
  iterations: 1
  per_iteration: 2
  objectives:
    - {metric: fid, goal: min, ref: 100}
EOF
launch 3 "$AB" campaign --config c.yaml --json > c.json 2> c.err
nf=$(jget c.json failed)
[ $? = 0 ] && [ -n "$nf" ] && [ "$nf" -gt 0 ] && [ $(($(jget c.json labelled) + nf)) = 20 ] && [ -s camp/front.csv ] &&
  ok || bad "campaign with failing jobs: $(tail -1 c.json) $(grep -v '^\[r[0-9] INFO' c.err | tail -3)"
[ "$(ls camp/jobs | wc -l)" = 20 ] && ok || bad "campaign: 20 job directories in camp/jobs"

# --- SIGTERM: status 75, the rerun goes on; a second run on the store is refused -------------
cfg slow.yaml slow.h5 "$(td --sleep-ms 300)" "" a.jsonl
"$AB" evaluate --config slow.yaml --json > slow1.json 2> slow1.err &
p=$!
for _ in $(seq 1 100); do grep -qs '"done"' slow.h5.jobs/*/state.json && break; sleep 0.05; done
"$AB" evaluate --config slow.yaml > /dev/null 2> second.err
[ $? = 2 ] && grep -q "slow.h5: another 'autobuild evaluate' is using this store" second.err && ok ||
  bad "a second run on the store: $(cat second.err)"
kill -TERM $p
wait $p
rc=$?
[ $rc = 75 ] && [ "$(jget slow1.json interrupted)" = true ] && ok || bad "SIGTERM: exit $rc $(tail -1 slow1.json)"
left=$((6 - $(jget slow1.json recorded)))
"$AB" evaluate --config slow.yaml --json > slow2.json 2> slow2.err
[ "$(jget slow2.json evaluated)" = $left ] && [ "$(jget slow2.json recorded)" = 6 ] && [ $left -gt 0 ] && ok ||
  bad "after SIGTERM: $(tail -1 slow2.json), $left left"
[ -z "$(ls slow.h5.jobs/*/attempt2.* 2> /dev/null)" ] && ok || bad "after SIGTERM: a job ran twice"

# --- SIGTERM to a plain run while a long job runs: exit 75 at once, the job goes on ---------
head -n 1 a.jsonl > along.jsonl
cfg long.yaml long.h5 "$(td --sleep-ms 6000)" "" along.jsonl
"$AB" evaluate --config long.yaml --json > long1.json 2> long1.err &
p=$!
for _ in $(seq 1 100); do grep -qs '"running"' long.h5.jobs/*/state.json && break; sleep 0.05; done
t0=$(date +%s.%N)
kill -TERM $p
wait $p
rc=$?
t1=$(date +%s.%N)
[ $rc = 75 ] && [ "$(jget long1.json recorded)" = 0 ] &&
  awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 3) }' && ok ||
  bad "SIGTERM during a long job (plain): exit $rc after $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s: $(tail -1 long1.json)"
grep -q '"running"' long.h5.jobs/*/state.json && ok || bad "SIGTERM (plain): the job is not left running"
"$AB" evaluate --config long.yaml --json > long2.json 2> long2.err
[ "$(jget long2.json recorded)" = 1 ] && [ "$(jget long2.json failed)" = 0 ] &&
  grep -q 're-attaching to attempt 1 (local)' long2.err && [ -z "$(ls long.h5.jobs/*/attempt2.* 2> /dev/null)" ] && ok ||
  bad "after SIGTERM during a long job: $(tail -1 long2.json) $(grep -v INFO long2.err | head -3)"

# --- SIGUSR1 to mpirun (forwarded to the ranks): jobs outlast the 5 s grace, status 75,
# the summary is printed; the jobs go on and the rerun re-attaches to them
if [ $have_mpi = 1 ]; then
  head -n 2 a.jsonl > a2.jsonl
  cfg usr1.yaml usr1.h5 "$(td --sleep-ms 7000)" "" a2.jsonl
  timeout 60 "$MPIEXEC" --oversubscribe -np 3 "$AB" evaluate --config usr1.yaml --json > u1.json 2> u1.err &
  p=$!
  for _ in $(seq 1 100); do [ "$(ls usr1.h5.jobs 2> /dev/null | wc -l)" = 2 ] && break; sleep 0.05; done
  sleep 0.5
  kill -USR1 $(pgrep -P $p) # mpirun, under timeout
  wait $p
  rc=$?
  [ $rc = 75 ] && [ "$(jget u1.json interrupted)" = true ] && [ "$(jget u1.json recorded)" = 0 ] && ok ||
    bad "SIGUSR1 under mpirun: exit $rc $(tail -1 u1.json) $(grep -v '^\[' u1.err | head -3)"
  [ "$(grep -l '"state": "running"' usr1.h5.jobs/*/state.json | wc -l)" = 2 ] && ok ||
    bad "SIGUSR1: the 2 jobs in flight are not left running"
  timeout 60 "$MPIEXEC" --oversubscribe -np 3 "$AB" evaluate --config usr1.yaml --json > u2.json 2> u2.err
  [ "$(jget u2.json recorded)" = 2 ] && [ "$(grep -c 're-attaching to attempt 1 (local)' u2.err)" = 2 ] &&
    [ -z "$(ls usr1.h5.jobs/*/attempt2.* 2> /dev/null)" ] && ok ||
    bad "after SIGUSR1: $(tail -1 u2.json) $(grep -c re-attaching u2.err) re-attached"
fi

# --- bad input: one line, exit 2, nothing written ---------------------------------------------
mkdir bad && cd bad || exit 1
cp ../ref.h5 ../a4.jsonl .
cfg p.yaml p.h5 "[\"$AB\", test-double, job, --arch, \"{archfile}\", --result, \"{result}\"]"
expect_error "unknown placeholder" "p.yaml: line 4: evaluators[1]: external evaluator: command[4] names the unknown placeholder '{archfile}'" \
  "$AB" evaluate --config p.yaml
cfg m.yaml m.h5 "[./no-such-job.sh, \"{arch_file}\"]"
expect_error "missing program" "command[0] './no-such-job.sh' is not an executable file" "$AB" evaluate --config m.yaml
cfg n.yaml n.h5 "[no-such-program-xyz, \"{arch_file}\"]"
expect_error "program not on PATH" "command[0] 'no-such-program-xyz' is not found on PATH" "$AB" evaluate --config n.yaml
# a reference whose covariance is not symmetric (h5import: no Python needed)
if command -v h5import > /dev/null 2>&1; then
  h5() { # OUT NAME DIMS... < TEXT
    local out=$1 name=$2
    shift 2
    cat > ../in.txt
    printf 'PATH %s\nINPUT-CLASS TEXTFP\nRANK %d\nDIMENSION-SIZES %s\nOUTPUT-CLASS FP\nOUTPUT-SIZE 64\nOUTPUT-ARCHITECTURE IEEE\nOUTPUT-BYTE-ORDER LE\n' \
      "$name" $# "$*" > ../in.cfg
    h5import ../in.txt -c ../in.cfg -o "$out" > /dev/null || bad "h5import $out $name"
  }
  awk 'BEGIN { for (j = 0; j < 16; j++) printf "%d ", j; print "" }' | h5 nonsym.h5 mu 16
  awk 'BEGIN { for (i = 0; i < 16; i++) { for (j = 0; j < 16; j++) printf "%d ", (i == j ? 10 : i * 16 + j); print "" } }' |
    h5 nonsym.h5 sigma 16 16
  cfg s.yaml s.h5 "$(td)"
  sed -i 's/fid_reference: ref.h5/fid_reference: nonsym.h5/' s.yaml
  expect_error "non-symmetric reference" "s.yaml: line 4: evaluators[1]: external evaluator: fid_reference: ./nonsym.h5: sigma is not symmetric" "$AB" evaluate --config s.yaml
else
  echo "note: h5import missing; the non-symmetric reference is checked by unit_fid only"
fi
# a store made for another configuration is refused and kept
cfg o.yaml ../ok.h5 "$(td --sleep-ms 1)" "" ../a4.jsonl
expect_error "store of another configuration" "ok.h5: the store was made for another configuration; its results cost compute and are kept: give another store path" \
  "$AB" evaluate --config o.yaml
(cd .. && "$AB" evaluate --config ok.yaml --json > ok4.json 2> /dev/null)
[ "$(jget ../ok4.json evaluated)" = 0 ] && [ "$(jget ../ok4.json recorded)" = 4 ] && ok ||
  bad "the refused store was changed: $(tail -1 ../ok4.json)"
cfg x.yaml x.h5 "$(td)" "" missing.jsonl
expect_error "missing archs file" "x.yaml: line 2: archs: missing.jsonl does not exist" "$AB" evaluate --config x.yaml
{ head -n 1 a4.jsonl; echo '{"space":"sd_unet","stages":[["res_7"]]}'; } > twolines.jsonl
cfg l.yaml l.h5 "$(td)" "" twolines.jsonl
expect_error "bad architecture line" "l.yaml: archs: twolines.jsonl: line 2" "$AB" evaluate --config l.yaml
cfg k.yaml k.h5 "$(td)" "" a4.jsonl "jobs: here"
expect_error "unknown key" "k.yaml: line 6: unknown key 'jobs' in the configuration" "$AB" evaluate --config k.yaml
expect_error "no --config" "--config E.yaml is required" "$AB" evaluate
cd ..
"$AB" evaluate --help | grep -q "fid_reference" && ok || bad "evaluate --help"

echo "test_external: $pass passed, $fail failed"
[ $fail = 0 ]
