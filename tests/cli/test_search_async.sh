#!/bin/bash
# The asynchronous steady-state search (search.mode: async): in-process it
# is deterministic; under mpirun with evaluation times that vary 64x it
# spends the budget exactly, each architecture once, and records every
# iteration; kill -9 of the coordinator at random moments, each followed by
# --resume, ends with exactly the budget, no architecture evaluated twice
# and an openable store after every kill; SIGTERM exits 75 and resumes; a
# sync store is not resumed as async; a bad mode is one line and exit 2.
# usage: test_search_async.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC] [KILLS]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
MPIEXEC=${3:-mpirun}
KILLS=${4:-4}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=detect_leaks=0
in_scratch async
have_mpi=0
command -v "$MPIEXEC" > /dev/null && have_mpi=1
aconfig() { # FILE STORE MODE INIT ITER PER SLEEP_MS SPREAD
  cat > "$1" <<EOF
search:
  space: ofa_mbv3
  variant: stage_full
  mode: $3
  init: $4
  iterations: $5
  per_iteration: $6
  seed: 11
  objectives:
    - {metric: acc, goal: max, ref: 0.6}
    - {metric: latency, goal: min, ref: 200.0}
evaluators:
  - {type: synthetic, sleep_ms: $7, sleep_spread: $8}
store: $2
EOF
}
dupes() { # STORE: architectures recorded twice in the journal
  grep -o '"hash":"[0-9a-f]*"' "$1.journal" | sort | uniq -d | wc -l
}
history_its() { # STORE: the recorded iteration numbers, space separated
  "$AB" report "$1" --json | grep -o '"iteration":[0-9]*' | cut -d: -f2 | tr '\n' ' '
}

# --- in-process: deterministic, budget exact, every iteration recorded ----------------
aconfig a1.yaml a1.h5 async 40 6 30 0 1
aconfig a2.yaml a2.h5 async 40 6 30 0 1
"$AB" search --config a1.yaml --json > a1.json 2> /dev/null || bad "async in-process failed"
"$AB" search --config a2.yaml --json > a2.json 2> /dev/null
[ "$(jget a1.json evaluations)" = 220 ] && ok || bad "async: evaluations $(tail -1 a1.json)"
[ "$(jget a1.json unique_archs)" = 220 ] && ok || bad "async: unique $(tail -1 a1.json)"
[ "$(jget a1.json hypervolume)" = "$(jget a2.json hypervolume)" ] && ok ||
  bad "async in-process not deterministic: $(jget a1.json hypervolume) vs $(jget a2.json hypervolume)"
[ "$(history_its a1.h5)" = "0 1 2 3 4 5 6 " ] && ok || bad "async history: $(history_its a1.h5)"
"$AB" report a1.h5 --json | grep -q '"complete":true' && ok || bad "async store not complete"
# a different mode is a different search than sync (front differs, identity too)
aconfig s1.yaml s1.h5 sync 40 6 30 0 1
"$AB" search --config s1.yaml --json > s1.json 2> /dev/null
cp s1.h5 s1_before.h5
aconfig s1a.yaml s1.h5 async 40 6 30 0 1
expect_error "resuming a sync store as async" "belongs to another search" \
  "$AB" search --config s1a.yaml --resume
cmp -s s1.h5 s1_before.h5 && ok || bad "refused resume changed the store"

# --- under mpirun: times vary 64x (10 ms x 8^u) ------------------------------------------
if [ $have_mpi = 1 ]; then
  aconfig m.yaml m.h5 async 24 4 24 10 8
  timeout 120 "$MPIEXEC" --oversubscribe -np 5 "$AB" search --config m.yaml --json > m.json 2> m.err
  [ $? = 0 ] && ok || bad "async mpirun failed: $(tail -2 m.err)"
  [ "$(jget m.json evaluations)" = 120 ] && ok || bad "async mpi: evaluations $(tail -1 m.json)"
  [ "$(jget m.json unique_archs)" = 120 ] && ok || bad "async mpi: unique $(tail -1 m.json)"
  [ "$(dupes m.h5)" = 0 ] && ok || bad "async mpi: architectures evaluated twice"
  [ "$(history_its m.h5)" = "0 1 2 3 4 " ] && ok || bad "async mpi history: $(history_its m.h5)"
  # the work went to all four workers
  n=$("$AB" report m.h5 --csv m.csv > /dev/null && cut -d, -f6 m.csv | sed 1d | sort -u | wc -l)
  [ "$n" = 4 ] && ok || bad "async mpi: $n workers got work, expected 4"
  # sleep_spread 8: evaluation times really vary (up to 64x; at least 8x here)
  col=$(head -1 m.csv | tr ',' '\n' | grep -n -x seconds | cut -d: -f1)
  spread=$(sed 1d m.csv | cut -d, -f"$col" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
    END { printf "%.1f", hi / (lo > 0 ? lo : 1e-9) }')
  awk -v s="$spread" 'BEGIN { exit !(s >= 8) }' && ok || bad "sleep_spread: times vary only ${spread}x"
fi

# --- kill -9 at random moments, then --resume --------------------------------------------
for mode in plain mpi; do
  [ $mode = mpi ] && [ $have_mpi = 0 ] && continue
  launch=""
  [ $mode = mpi ] && launch="$MPIEXEC --oversubscribe -np 3"
  aconfig k.yaml k_$mode.h5 async 100 9 100 1 4
  "$AB" search --config k.yaml --quiet > /dev/null 2>&1 &
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
  [ "$(jget kres.json unique_archs)" = 1000 ] && ok || bad "$mode: unique $(tail -1 kres.json)"
  [ "$(dupes k_$mode.h5)" = 0 ] && ok || bad "$mode: architectures evaluated twice"
  its=$(history_its k_$mode.h5)
  [ "$its" = "0 1 2 3 4 5 6 7 8 9 " ] && ok || bad "$mode: history after kills: $its"
done

# --- SIGTERM: checkpoint, exit 75, resume -------------------------------------------------
aconfig t.yaml t.h5 async 50 4 50 5 2
"$AB" search --config t.yaml --quiet > /dev/null 2> term.err &
p=$!
sleep 0.5
kill -TERM $p
wait $p
rc=$?
[ $rc = 75 ] && ok || bad "async SIGTERM: exit $rc, expected 75 ($(tail -1 term.err))"
"$AB" search --config t.yaml --resume --json > t.json 2> /dev/null
[ "$(jget t.json evaluations)" = 250 ] && ok || bad "async SIGTERM resume: $(tail -1 t.json)"
[ "$(dupes t.h5)" = 0 ] && ok || bad "async SIGTERM: architectures evaluated twice"

# --- bad input ----------------------------------------------------------------------------
aconfig b.yaml b.h5 steady 10 1 10 0 1
expect_error "unknown mode" "search.mode: unknown 'steady'" "$AB" search --config b.yaml
[ ! -e b.h5 ] && ok || bad "bad mode created a store"
aconfig b2.yaml b2.h5 async 10 1 10 0 0.5
expect_error "sleep_spread below 1" "sleep_spread" "$AB" search --config b2.yaml

echo "test_search_async: $pass passed, $fail failed"
[ $fail = 0 ]
