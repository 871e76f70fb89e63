#!/usr/bin/env bash
# Benchmark of the search runtime (coordinator + MPI workers + store):
#  1. coordinator throughput: a trivial evaluator (returns at once) under
#     mpirun -np NP (default 32), budget 100,000 (1000 + 99 x 1000), sync
#     and async; evaluations per second and microseconds of coordinator work
#     per evaluation, store included (median of R runs);
#  2. scaling: an evaluator that sleeps 100 ms, 2/4/8/16/32 workers,
#     evaluations per second (median of R runs), as a fraction of linear
#     (W x 10/s) and of W/2 x the measured 2-worker rate;
#  3. sync vs async when evaluation times vary 64x (50 ms x 8^u, u in
#     [-1, 1]), 16 workers: wall time and worker utilisation (busy seconds /
#     (workers x wall)) of the same budget (median of R runs).
# Oversubscribing a small machine is fine for 2 and 3 (the workers sleep);
# 1 measures the coordinator, which then shares its core.
# usage: bench/search_dispatch.sh [BUILD_DIR] [NP] [R]
set -euo pipefail
B=$(realpath "${1:-build}")
NP=${2:-32}
R=${3:-3}
AB="$B/autobuild"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpirun --oversubscribe)

config() { # FILE STORE MODE INIT ITER PER SLEEP_MS SPREAD
  cat > "$1" <<EOF
search:
  space: ofa_mbv3
  mode: $3
  init: $4
  iterations: $5
  per_iteration: $6
  seed: 1
  snapshot_interval: 5
  objectives:
    - {metric: acc, goal: max, ref: 0.6}
    - {metric: latency, goal: min, ref: 200.0}
evaluators:
  - {type: synthetic, sleep_ms: $7, sleep_spread: $8}
store: $2
EOF
}
jnum() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" "$1" | tail -1; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== coordinator throughput: trivial evaluator, mpirun -np $NP, 100,000 evaluations"
for mode in sync async; do
  for r in $(seq "$R"); do
    rm -f "$T"/t.h5*
    config "$T/t.yaml" t.h5 $mode 1000 99 1000 0 1
    "${MPI[@]}" -np "$NP" "$AB" search --config "$T/t.yaml" --json --quiet > "$T/t.json" 2> /dev/null
    awk -v e="$(jnum "$T/t.json" evaluations)" -v s="$(jnum "$T/t.json" seconds)" \
      'BEGIN { printf "%.0f\n", e / s }'
  done | median | awk -v m=$mode '{ printf "%-5s (100 iterations of 1000): median %d evaluations/s = %.1f us per evaluation\n",
                                    m, $1, 1e6 / $1 }'
done

echo "== scaling: 100 ms evaluator (median of $R runs per worker count)"
base=""
for w in 2 4 8 16 32; do
  rate=$(for r in $(seq "$R"); do
    rm -f "$T"/s.h5*
    config "$T/s.yaml" s.h5 sync $((4 * w)) 4 $((4 * w)) 100 1
    "${MPI[@]}" -np $((w + 1)) "$AB" search --config "$T/s.yaml" --json --quiet > "$T/s.json" 2> /dev/null
    awk -v e="$(jnum "$T/s.json" evaluations)" -v s="$(jnum "$T/s.json" seconds)" \
      'BEGIN { printf "%.2f\n", e / s }'
  done | median)
  [ -z "$base" ] && base=$rate
  awk -v w=$w -v r="$rate" -v b="$base" \
    'BEGIN { printf "%2d workers: %7.1f evaluations/s  (%.1f%% of linear %d/s; %.1f%% of %d x the 2-worker rate)\n",
             w, r, 100 * r / (10 * w), 10 * w, 100 * r / (b * w / 2), w / 2 }'
done

echo "== sync vs async: 50 ms x 8^u (6-400 ms), 16 workers, budget 64 + 6 x 64 (median of $R runs)"
for mode in sync async; do
  for r in $(seq "$R"); do
    rm -f "$T"/m.h5*
    config "$T/m.yaml" m.h5 $mode 64 6 64 50 8
    "${MPI[@]}" -np 17 "$AB" search --config "$T/m.yaml" --json --quiet > "$T/m.json" 2> /dev/null
    "$AB" report "$T/m.h5" --csv "$T/m.csv" > /dev/null
    # the CSV's "seconds" column: the time each evaluation took on its worker
    col=$(head -1 "$T/m.csv" | tr ',' '\n' | grep -n -x seconds | cut -d: -f1)
    busy=$(sed 1d "$T/m.csv" | cut -d, -f"$col" | awk '{ s += $1 } END { print s }')
    awk -v s="$(jnum "$T/m.json" seconds)" -v b="$busy" 'BEGIN { printf "%.3f %.1f\n", s, 100 * b / (16 * s) }'
  done | sort -g | awk -v m=$mode '{ w[NR] = $1; u[NR] = $2 } END { k = int((NR + 1) / 2)
    printf "%-5s median wall %6.2f s  worker utilisation %5.1f%%\n", m, w[k], u[k] }'
done
