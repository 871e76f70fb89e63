#!/usr/bin/env bash
# The search runtime: `autobuild search` gives the same front plain and under
# mpirun with 1-3 workers; kill -9 of the coordinator at random moments,
# each followed by --resume, ends with exactly the budget, no architecture
# evaluated twice, an openable store after every kill, and the uninterrupted
# run's front; SIGTERM checkpoints and exits 75; `report` reads live and
# finished stores; the table evaluator turns a missing architecture into a
# recorded evaluation error; bad configurations fail with one line and exit 2
# without touching an existing store.
# usage: test_search.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC] [KILLS]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
MPIEXEC=${3:-mpirun}
KILLS=${4:-4}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=detect_leaks=0
in_scratch search
have_mpi=0
command -v "$MPIEXEC" > /dev/null && have_mpi=1
config() { # FILE STORE VARIANT INIT ITER PER SLEEP_MS [extra evaluator line]
  cat > "$1" <<EOF
search:
  space: ofa_mbv3
  variant: $3
  init: $4
  iterations: $5
  per_iteration: $6
  stage_mutate_prob: 0.5
  seed: 7
  objectives:
    - {metric: acc, goal: max, ref: 0.6}
    - {metric: latency, goal: min, ref: 200.0}
evaluators:
  - {type: synthetic, sleep_ms: $7}
${8:-}
store: $2
EOF
}

# --- the same front plain and under mpirun ----------------------------------------
for v in stage_full layer_full; do
  config c_$v.yaml ref_$v.h5 $v 40 5 30 0
  "$AB" search --config c_$v.yaml --json > ref_$v.json 2> /dev/null
  [ "$(jget ref_$v.json evaluations)" = 190 ] && ok || bad "$v: 190 evaluations: $(tail -1 ref_$v.json)"
  [ "$(jget ref_$v.json unique_archs)" = 190 ] && ok || bad "$v: 190 unique"
  "$AB" report ref_$v.h5 --json > rep_$v.json && ok || bad "$v: report"
  if [ $have_mpi = 1 ]; then
    for np in 2 4; do
      config m.yaml mpi_${v}_$np.h5 $v 40 5 30 0
      timeout 120 "$MPIEXEC" --oversubscribe -np $np "$AB" search --config m.yaml --json > m.json 2> /dev/null
      [ "$(jget m.json hypervolume)" = "$(jget ref_$v.json hypervolume)" ] && ok ||
        bad "$v np $np: hypervolume $(jget m.json hypervolume) vs $(jget ref_$v.json hypervolume)"
      "$AB" report mpi_${v}_$np.h5 --json | sed 's/"history".*//' > r.json
      sed 's/"history".*//' rep_$v.json | cmp -s - r.json && ok || bad "$v np $np: front differs"
    done
  fi
done
# Stage-Full draws stages as OFA does (depth uniform, then blocks), not
# uniformly over a stage's 7371 subgraphs (89% of them 4 layers deep): the
# initial pool's depths are about a third each
config c_depth.yaml depth.h5 stage_full 300 1 10 0
"$AB" search --config c_depth.yaml --quiet 2> /dev/null && "$AB" report depth.h5 --csv depth.csv > /dev/null &&
  ok || bad "stage_full depth run"
awk -F, 'NR > 1 && $2 == 0' depth.csv | grep -o '\[""[^][]*\]' |
  awk -F'"",""' '{ n[NF]++; t++ } END { for (d = 2; d <= 4; d++) printf "%d %.3f\n", d, n[d] / t }' > depths.txt
[ "$(awk '$2 >= 0.25 && $2 <= 0.42' depths.txt | wc -l)" = 3 ] && ok ||
  bad "stage_full initial depths 2/3/4 not about a third each: $(tr '\n' ' ' < depths.txt)"
# the store is HDF5 with the documented identity
h5dump -a format ref_stage_full.h5 2> /dev/null | grep -q autobuild-store && ok || bad "h5dump format"

# --- kill -9 at random moments, then --resume ----------------------------------------
config k_ref.yaml kref.h5 stage_full 100 9 100 0
"$AB" search --config k_ref.yaml --json > kref.json 2> /dev/null
"$AB" report kref.h5 --json | sed 's/"history".*//' > kref_front.json
for mode in plain mpi; do
  [ $mode = mpi ] && [ $have_mpi = 0 ] && continue
  config k.yaml k_$mode.h5 stage_full 100 9 100 1
  launch=""
  [ $mode = mpi ] && launch="$MPIEXEC --oversubscribe -np 3"
  "$AB" search --config k.yaml --quiet 2> /dev/null > /dev/null &
  first=$!
  sleep 0.3
  kill -9 $first 2> /dev/null
  wait $first 2> /dev/null
  for i in $(seq 1 "$KILLS"); do
    run_killed k.yaml $launch
    if [ -e k_$mode.h5 ]; then
      h5dump -H k_$mode.h5 > /dev/null 2>&1 && ok || bad "$mode kill $i: store does not open"
    fi
  done
  timeout 300 $launch "$AB" search --config k.yaml --resume --json > kres.json 2> kres.err
  [ $? = 0 ] && ok || bad "$mode: final resume failed: $(tail -2 kres.err)"
  [ "$(jget kres.json evaluations)" = 1000 ] && ok || bad "$mode: evaluations $(tail -1 kres.json)"
  [ "$(jget kres.json unique_archs)" = 1000 ] && ok || bad "$mode: unique archs $(tail -1 kres.json)"
  "$AB" report k_$mode.h5 --json | sed 's/"history".*//' > kres_front.json
  cmp -s kref_front.json kres_front.json && ok || bad "$mode: front after kills differs from the uninterrupted run"
  # every architecture once
  n=$(grep -o '"hash":"[0-9a-f]*"' k_$mode.h5.journal | sort | uniq -d | wc -l)
  [ "$n" = 0 ] && ok || bad "$mode: $n architectures evaluated twice"
done

# --- SIGTERM: checkpoint and exit 75 ------------------------------------------------------
config t.yaml t.h5 stage_full 50 4 50 5
"$AB" search --config t.yaml --quiet > /dev/null 2> term.err &
p=$!
sleep 0.5
kill -TERM $p
wait $p
rc=$?
[ $rc = 75 ] && ok || bad "SIGTERM: exit $rc, expected 75 ($(tail -1 term.err))"
grep -q -- "--resume" term.err && ok || bad "SIGTERM: no resume hint"
h5dump -H t.h5 > /dev/null 2>&1 && ok || bad "SIGTERM: store does not open"
"$AB" search --config t.yaml --resume --json > t.json 2> /dev/null
[ "$(jget t.json evaluations)" = 250 ] && ok || bad "SIGTERM resume: $(tail -1 t.json)"

# --- table evaluator: a missing architecture is a recorded evaluation error ----------------
"$AB" data sample --space ofa_mbv3 --n 60 --seed 3 --out a.jsonl 2> /dev/null
"$AB" data label --space ofa_mbv3 --archs a.jsonl --out l.csv 2> /dev/null
"$AB" data import --space ofa_mbv3 --csv l.csv --out tab.h5 2> /dev/null
cat > tab.yaml <<EOF
search:
  space: ofa_mbv3
  variant: layer_full
  init: 10
  iterations: 1
  per_iteration: 10
  seed: 1
  objectives:
    - {metric: macs, goal: max, ref: 0}
    - {metric: params, goal: min, ref: 1e9}
evaluators:
  - {type: table, file: tab.h5}
store: tab_run.h5
EOF
"$AB" search --config tab.yaml --json > tab.json 2> tab.err
[ $? = 0 ] && ok || bad "table search: $(tail -1 tab.err)"
[ "$(jget tab.json failed)" = 20 ] && ok || bad "table: 20 failed evaluations expected: $(tail -1 tab.json)"
"$AB" report tab_run.h5 --csv tab.csv > /dev/null
grep -q "not in the table" tab.csv && ok || bad "table: error text recorded"

# --- search.cache: results of earlier stores are reused, not evaluated again ---------------
config cc1.yaml cc1.h5 stage_full 40 3 30 0
"$AB" search --config cc1.yaml --json > cc1.json 2> /dev/null
config cc2.yaml cc2.h5 stage_full 40 3 30 0
sed -i 's/^  seed: 7$/  seed: 7\n  cache: cc1.h5/' cc2.yaml
"$AB" search --config cc2.yaml --json > cc2.json 2> /dev/null
[ "$(jget cc2.json cached)" = 130 ] && ok || bad "cache: $(tail -1 cc2.json)"
[ "$(jget cc2.json hypervolume)" = "$(jget cc1.json hypervolume)" ] && ok || bad "cache: other front"
[ "$("$AB" report cc2.h5 --json | grep -o '"unique_archs":[0-9]*')" = '"unique_archs":130' ] && ok ||
  bad "cache: the reused results are not all in the new store"
if [ $have_mpi = 1 ]; then
  config cc3.yaml cc3.h5 stage_full 40 3 30 0
  sed -i 's/^  seed: 7$/  seed: 7\n  cache: [cc1.h5]/' cc3.yaml
  timeout 60 "$MPIEXEC" --oversubscribe -np 3 "$AB" search --config cc3.yaml --json > cc3.json 2> /dev/null
  [ "$(jget cc3.json cached)" = 130 ] && ok || bad "cache under mpirun: $(tail -1 cc3.json)"
fi
# a different seed shares only what it proposes again; the budget is still exact
config cc4.yaml cc4.h5 stage_full 40 3 30 0
sed -i 's/^  seed: 7$/  seed: 8\n  cache: [cc1.h5, cc2.h5]/' cc4.yaml
"$AB" search --config cc4.yaml --json > cc4.json 2> /dev/null
[ "$(jget cc4.json evaluations)" = 130 ] && [ "$(jget cc4.json unique_archs)" = 130 ] && ok ||
  bad "cache, other seed: $(tail -1 cc4.json)"
config cc5.yaml cc5.h5 stage_full 40 3 30 0
sed -i 's/^  seed: 7$/  seed: 7\n  cache: cc1.h5/; s/{type: synthetic, sleep_ms: 0}/{type: synthetic, metrics: [acc, lat]}/; s/metric: latency,/metric: lat,/' cc5.yaml
expect_error "cache of other evaluators" "records no metric 'lat'" "$AB" search --config cc5.yaml
config cc6.yaml cc6.h5 stage_full 40 3 30 0
sed -i 's/^  seed: 7$/  seed: 7\n  cache: cc1.yaml/' cc6.yaml
expect_error "cache that is not a store" "search.cache" "$AB" search --config cc6.yaml

# --- bad input: one line, exit 2, nothing overwritten ------------------------------------
cp ref_stage_full.h5 keep.h5
cp ref_stage_full.h5.journal keep.h5.journal
config bad1.yaml keep.h5 stage_full 10 1 10 0 "  - {type: lookup, file: x.h5}"
expect_error "unknown evaluator" "unknown evaluator type 'lookup'" "$AB" search --config bad1.yaml --resume
sed 's/metric: latency,/metric: energy,/' c_stage_full.yaml > bad2.yaml
expect_error "unknown objective" "objective 'energy' is produced by no evaluator" "$AB" search --config bad2.yaml
sed 's/seed: 7/seed: 8/; s/store: .*/store: keep.h5/' c_stage_full.yaml > bad3.yaml
expect_error "store of another search" "belongs to another search" "$AB" search --config bad3.yaml --resume
sed 's/store: .*/store: keep.h5/' c_stage_full.yaml > bad4.yaml
expect_error "existing store without --resume" "the store exists" "$AB" search --config bad4.yaml
cmp -s keep.h5 ref_stage_full.h5 && cmp -s keep.h5.journal ref_stage_full.h5.journal && ok || bad "store changed by failed runs"
sed 's/variant: stage_full/variant: best_first/' c_stage_full.yaml > bad5.yaml
expect_error "unknown variant" "unknown 'best_first'" "$AB" search --config bad5.yaml
sed 's/goal: max/goal: up/' c_stage_full.yaml > bad6.yaml
expect_error "bad goal" "goal must be max or min" "$AB" search --config bad6.yaml
sed 's/variant: stage_full/variant: autobuild_nas/' c_stage_full.yaml > bad7.yaml
expect_error "autobuild_nas without reduced space" "reduced space" "$AB" search --config bad7.yaml
sed 's/  init: 40/  init: 40\n  inti: 3/' c_stage_full.yaml > bad8.yaml
expect_error "unknown key" "unknown key 'inti'" "$AB" search --config bad8.yaml
if [ $have_mpi = 1 ]; then
  timeout 120 "$MPIEXEC" --oversubscribe -np 3 "$AB" search --config bad2.yaml > out.txt 2> err.txt
  [ $? = 2 ] && ok || bad "mpi: bad config exit code"
fi

echo "test_search: $pass passed, $fail failed"
[ $fail = 0 ]
