#!/usr/bin/env bash
# `autobuild campaign`: a full run writes every stage's file; a rerun skips
# every stage and changes no file; a changed search budget redoes only
# search and report; a changed predictor redoes its training, labelling and
# what follows; a removed output is made again; a larger data.n evaluates
# only the new architectures; failed evaluations are left out and counted;
# kill -9 during the data
# stage, then a rerun, gives exactly N labelled architectures and the
# uninterrupted run's dataset; SIGTERM checkpoints and exits 75; a second
# run in a folder that a campaign is using is refused; under
# mpirun -np 3 the dataset (and the front) equal the plain run's; bad
# configurations fail with one line naming file, line and key, exit 2, and
# write nothing.
# usage: test_campaign.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
MPIEXEC=${3:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=detect_leaks=0
in_scratch campaign
have_mpi=0
command -v "$MPIEXEC" > /dev/null && have_mpi=1
config() { # FILE DIR N ITERATIONS SLEEP_MS [EPOCHS_OF_FAST]
  cat > "$1" <<EOF
campaign: {dir: $2, space: ofa_mbv3, seed: 3}
data:
  n: $3
  evaluators:
    - {type: synthetic, metrics: [acc, latency], sleep_ms: $5}
predictors:
  - {name: acc, target: acc, epochs: 5}
  - {name: fast, target: -latency, epochs: ${6:-5}}
modules: {k: 4, select: constrained}
search:
  init: 30
  iterations: $4
  per_iteration: 20
  objectives:
    - {metric: acc, goal: max, ref: 0.6}
    - {metric: latency, goal: min, ref: 200.0}
EOF
}
sums() { # DIR: checksums of every file under it
  (cd "$1" && find . -type f | sort | xargs md5sum)
}
stage_lines() { # ERRFILE WORD: how many "[campaign] STAGE: WORD" lines
  grep -c "^\[campaign\] [a-z]*\( [a-z0-9_-]*\)\?: $2" "$1"
}
started_labelling() { # DIR: wait (up to 10 s) until 20 evaluations are in the data store
  for _ in $(seq 1 100); do
    [ "$(cat "$1/data-labels.h5.journal" 2> /dev/null | wc -l)" -gt 20 ] && return 0
    sleep 0.1
  done
  return 1
}

# --- a full run ------------------------------------------------------------------
config c.yaml camp 300 3 0
"$AB" campaign --config c.yaml --json > run1.json 2> run1.err
[ $? = 0 ] && ok || bad "full run: $(tail -2 run1.err)"
for f in data.h5 data-labels.h5 predictors/acc.h5 predictors/fast.h5 units/acc.h5 units/fast.h5 \
         reduced.h5 search.yaml search.h5 front.csv history.csv front.png; do
  [ -s camp/$f ] && ok || bad "full run: camp/$f missing"
done
[ "$(jget run1.json labelled)" = 300 ] && ok || bad "full run: 300 labelled: $(tail -1 run1.json)"
# the search reuses the labelling's results (same evaluators): never evaluated twice
grep -q '^  cache: \[data-labels.h5\]$' camp/search.yaml && ok || bad "search does not reuse the labels"
[ "$(jget run1.json evaluations)" = 90 ] && ok || bad "full run: 90 evaluations: $(tail -1 run1.json)"
[ "$("$AB" data info camp/data.h5 --json | sed -n 's/.*"n":\([0-9]*\).*/\1/p')" = 300 ] && ok ||
  bad "data.h5: $("$AB" data info camp/data.h5 --json)"
[ "$(grep -c . camp/history.csv)" = 5 ] && ok || bad "history.csv: header + iterations 0-3"
"$AB" report camp/search.h5 --json > rep.json && grep -q '"complete":true' rep.json && ok ||
  bad "search store not complete"
"$AB" space info camp/reduced.h5 > /dev/null && ok || bad "reduced.h5 is not a space"
grep -q '^\[campaign\] data: 300 labelled, 0 failed' run1.err && ok || bad "data progress line"

# --- a rerun skips every stage and changes nothing --------------------------------
sums camp > before.txt
"$AB" campaign --config c.yaml --json > run2.json 2> run2.err
[ $? = 0 ] && ok || bad "rerun: $(tail -2 run2.err)"
[ "$(stage_lines run2.err skipped)" = 8 ] && ok || bad "rerun: 8 skipped stages expected: $(cat run2.err)"
[ "$(grep -c '^\[r0 INFO' run2.err)" = 0 ] && ok || bad "rerun did work: $(grep '^\[r0' run2.err | head -3)"
sums camp | cmp -s - before.txt && ok || bad "rerun changed files"
[ "$(jget run2.json hypervolume)" = "$(jget run1.json hypervolume)" ] && ok || bad "rerun summary"

# --- a new search budget: only search and report -----------------------------------
config c.yaml camp 300 4 0
"$AB" campaign --config c.yaml --json > run3.json 2> run3.err
[ $? = 0 ] && ok || bad "budget change: $(tail -2 run3.err)"
[ "$(stage_lines run3.err skipped)" = 6 ] && ok || bad "budget change: 6 skipped: $(grep campaign run3.err)"
grep -q '^\[campaign\] search: the configuration or inputs changed' run3.err && ok ||
  bad "budget change: no line saying why the search is redone"
[ "$(jget run3.json evaluations)" = 110 ] && ok || bad "budget change: 110 evaluations: $(tail -1 run3.json)"
for f in data.h5 predictors/acc.h5 units/fast.h5 reduced.h5; do
  [ "$(grep " ./$f\$" before.txt)" = "$(cd camp && md5sum ./$f)" ] && ok || bad "budget change touched $f"
done
[ "$(grep -c . camp/history.csv)" = 6 ] && ok ||
  bad "history.csv after the budget change"

# --- one predictor changes: its training, labelling, reduce, search, report ---------
config c.yaml camp 300 4 0 6
"$AB" campaign --config c.yaml > /dev/null 2> run4.err
[ $? = 0 ] && ok || bad "predictor change: $(tail -2 run4.err)"
grep -q '^\[campaign\] train acc: skipped' run4.err && grep -q '^\[campaign\] label acc: skipped' run4.err &&
  grep -q '^\[campaign\] train fast: the configuration' run4.err &&
  grep -q '^\[campaign\] data: skipped' run4.err && ok || bad "predictor change: $(grep campaign run4.err)"
[ "$(stage_lines run4.err skipped)" = 3 ] && ok || bad "predictor change: 3 skipped: $(grep campaign run4.err)"

# --- a removed output is made again, the rest is skipped ----------------------------
rm camp/front.png
"$AB" campaign --config c.yaml > /dev/null 2> run5.err
grep -q '^\[campaign\] report: .*report.md is missing or was changed' run5.err && [ -s camp/front.png ] &&
  [ "$(stage_lines run5.err skipped)" = 7 ] && ok || bad "removed output: $(grep campaign run5.err)"

# --- a larger n: the recorded evaluations are kept, only the new ones run ---------------
config c.yaml camp 350 4 0 6
"$AB" campaign --config c.yaml --json > run6.json 2> run6.err
grep -q '^\[campaign\] data: 300/350 labelled, 50 to evaluate' run6.err && [ "$(jget run6.json labelled)" = 350 ] &&
  [ "$(stage_lines run6.err skipped)" = 0 ] && ok || bad "larger n: $(grep campaign run6.err)"

# --- failed evaluations are left out of the dataset and counted ----------------------
sed 's/sleep_ms: 0}/sleep_ms: 0, fail_rate: 0.1}/; s/dir: camp,/dir: failing,/' c.yaml > f.yaml
"$AB" campaign --config f.yaml --json > f.json 2> f.err
nf=$(jget f.json failed)
nl=$(jget f.json labelled)
[ -n "$nf" ] && [ "$nf" -gt 0 ] && [ $((nf + nl)) = 350 ] &&
  [ "$("$AB" data info failing/data.h5 --json | sed -n 's/.*"n":\([0-9]*\).*/\1/p')" = "$nl" ] && ok ||
  bad "failed evaluations: $(tail -1 f.json) $(tail -1 f.err)"
grep -q "^\[campaign\] data: $nl labelled, $nf failed (left out)" f.err && ok || bad "failed: progress line"

# --- kill -9 during the data stage, then rerun ----------------------------------------
config ref.yaml ref 300 1 0
"$AB" campaign --config ref.yaml > /dev/null 2> ref.err || bad "reference run: $(tail -1 ref.err)"
config k.yaml k 300 1 4
"$AB" campaign --config k.yaml > /dev/null 2> k1.err &
p=$!
started_labelling k
kill -9 $p 2> /dev/null
wait $p 2> /dev/null
[ -e k/data-labels.h5.journal ] && [ ! -e k/data.h5 ] && ok || bad "kill -9: not in the data stage"
"$AB" campaign --config k.yaml --json > k2.json 2> k2.err
[ $? = 0 ] && ok || bad "rerun after kill -9: $(tail -2 k2.err)"
grep -q '^\[campaign\] data: resuming' k2.err && ok || bad "rerun after kill -9 did not resume: $(grep campaign k2.err)"
[ "$(jget k2.json labelled)" = 300 ] && ok || bad "after kill -9: $(tail -1 k2.json)"
"$AB" data export --in k/data.h5 --csv k.csv && "$AB" data export --in ref/data.h5 --csv ref.csv &&
  cmp -s k.csv ref.csv && ok || bad "after kill -9: the dataset differs from the uninterrupted run's"
n=$(grep -o '"hash":"[0-9a-f]*"' k/data-labels.h5.journal | sort | uniq -d | wc -l)
[ "$n" = 0 ] && ok || bad "after kill -9: $n architectures labelled twice"

# --- SIGTERM during the data stage: checkpoint, exit 75, rerun continues ----------------
config t.yaml t 300 1 4
"$AB" campaign --config t.yaml > t1.out 2> t1.err &
p=$!
started_labelling t
# a second run in the same folder meanwhile is refused
"$AB" campaign --config t.yaml > /dev/null 2> tsecond.err
[ $? = 2 ] && grep -q "another 'autobuild campaign' is running in this folder" tsecond.err && ok ||
  bad "a concurrent run was not refused: $(cat tsecond.err)"
kill -TERM $p
wait $p
rc=$?
[ $rc = 75 ] && ok || bad "SIGTERM: exit $rc, expected 75 ($(tail -1 t1.err))"
grep -q 'data: interrupted' t1.err && ok || bad "SIGTERM: no interrupted line"
"$AB" campaign --config t.yaml --json > t2.json 2> t2.err
[ "$(jget t2.json labelled)" = 300 ] && ok || bad "SIGTERM rerun: $(tail -1 t2.json)"
"$AB" data export --in t/data.h5 --csv t.csv && cmp -s t.csv ref.csv && ok || bad "SIGTERM: dataset differs"

# --- mpirun -np 3: the same dataset and front -------------------------------------------
if [ $have_mpi = 1 ]; then
  config m.yaml m 300 1 0
  timeout 120 "$MPIEXEC" --oversubscribe -np 3 "$AB" campaign --config m.yaml --json > m.json 2> m.err
  [ $? = 0 ] && ok || bad "mpirun -np 3: $(tail -2 m.err)"
  "$AB" data export --in m/data.h5 --csv m.csv && cmp -s m.csv ref.csv && ok || bad "mpirun: dataset differs"
  cmp -s m/front.csv ref/front.csv && ok || bad "mpirun: front differs"
  timeout 120 "$MPIEXEC" --oversubscribe -np 3 "$AB" campaign --config m.yaml > /dev/null 2> m2.err
  [ $? = 0 ] && [ "$(stage_lines m2.err skipped)" = 8 ] && ok || bad "mpirun rerun: $(grep campaign m2.err)"
  sed 's/  - {name: acc, target: acc, epochs: 5}/  - {name: acc, target: acc, epochs: 2, folds: 3}/' m.yaml > me.yaml
  timeout 120 "$MPIEXEC" --oversubscribe -np 3 "$AB" campaign --config me.yaml > /dev/null 2> me.err
  [ $? = 0 ] && grep -q '^\[r2 INFO \] member 3/3' me.err && ok || bad "mpirun ensemble: $(tail -3 me.err)"
  sed 's/dir: m,/dir: me1,/' me.yaml > me1.yaml
  "$AB" campaign --config me1.yaml > /dev/null 2> me1.err
  cmp -s m/front.csv me1/front.csv && ok || bad "ensemble: plain and mpirun fronts differ"
  sed 's/metric: latency, goal/metric: energy, goal/' m.yaml > mbad.yaml
  timeout 60 "$MPIEXEC" --oversubscribe -np 3 "$AB" campaign --config mbad.yaml > /dev/null 2> mbad.err
  [ $? = 2 ] && ok || bad "mpirun: bad configuration exit code"
fi

# --- bad configurations: one line, exit 2, nothing written ---------------------------------
mkdir bad && cd bad || exit 1
config base.yaml nb 300 1 0
sed 's/^modules: {k: 4, select: constrained}/modules: {k: 4, select: constrained, top: 3}/' base.yaml > b1.yaml
expect_error "unknown key" "b1.yaml: line 9: unknown key 'top' in modules" "$AB" campaign --config b1.yaml
sed 's/{type: synthetic, metrics/{type: lookup, metrics/' base.yaml > b2.yaml
expect_error "unknown evaluator type" "b2.yaml: line 5: data.evaluators[1]: unknown evaluator type 'lookup'" \
  "$AB" campaign --config b2.yaml
sed 's/target: -latency/target: -energy/' base.yaml > b3.yaml
expect_error "target of a missing metric" "b3.yaml: line 8: predictors[2].target: label equation \"-energy\": unknown metric 'energy'" \
  "$AB" campaign --config b3.yaml
sed 's/metric: latency, goal/metric: energy, goal/' base.yaml > b4.yaml
expect_error "objective no evaluator gives" "b4.yaml: line 16: search.objectives[2].metric: 'energy'" \
  "$AB" campaign --config b4.yaml
sed 's/k: 4,/k: [4, 4],/' base.yaml > b5.yaml
expect_error "K per unit" "modules.k: give one K or one per unit (ofa_mbv3 has 5 units)" "$AB" campaign --config b5.yaml
sed 's/name: fast/name: acc/' base.yaml > b6.yaml
expect_error "duplicate predictor" "predictors[2].name: 'acc' is used twice" "$AB" campaign --config b6.yaml
sed 's/^campaign:/campain:/' base.yaml > b7.yaml
expect_error "unknown section" "line 1: unknown key 'campain' in the configuration" "$AB" campaign --config b7.yaml
sed 's/{type: synthetic, metrics: \[acc, latency\], sleep_ms: 0}/{type: predictor, file: none.h5, metric: acc}/' \
  base.yaml > b8.yaml
expect_error "missing evaluator file" "b8.yaml: line 5: data.evaluators[1]: none.h5" "$AB" campaign --config b8.yaml
sed 's/  n: 300/  n: 0/' base.yaml > b9.yaml
expect_error "n out of range" "data.n: expected an integer from 1" "$AB" campaign --config b9.yaml
expect_error "no --config" "--config C.yaml is required" "$AB" campaign
cd ..
"$AB" campaign --help | grep -q "predictors:" && ok || bad "campaign --help"

# --- the example configuration runs -------------------------------------------------------
EXAMPLE=$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../../experiments/campaign-synthetic.yaml
sed 's#^  dir: .*#  dir: example#' "$EXAMPLE" > example.yaml
"$AB" campaign --config example.yaml --json > ex.json 2> ex.err
[ $? = 0 ] && [ "$(jget ex.json labelled)" = 1000 ] && [ -s example/front.png ] && ok ||
  bad "experiments/campaign-synthetic.yaml: $(tail -1 ex.err)"

echo "test_campaign: $pass passed, $fail failed"
[ $fail = 0 ]
