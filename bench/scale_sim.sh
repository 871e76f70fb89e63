#!/usr/bin/env bash
# Scale check: a simulated large campaign on one machine. NP-1 worker ranks
# (default 256, oversubscribed: they sleep, so one machine holds them) run
# the synthetic evaluator with evaluation times spread like real NAS jobs,
# "1 s to 10 min" scaled down 100x: 245 ms x 24.5^u, u uniform in [-1, 1]
# per architecture, i.e. 10 ms to 6 s. The same budget, W + ITER x W (W =
# workers, ITER from the environment, default 4), is spent by the
# synchronous search (each iteration waits for its slowest child) and the
# asynchronous one (an idle worker gets a new child at once). For each: wall
# time, evaluations per second, worker utilisation (busy seconds / (workers
# x wall)) and the hypervolume reached; R runs each, medians.
# usage: bench/scale_sim.sh [BUILD_DIR] [NP] [R]
set -euo pipefail
B=$(realpath "${1:-build}")
NP=${2:-257}
R=${3:-1}
AB="$B/autobuild"
W=$((NP - 1))
ITER=${ITER:-4}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jnum() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" "$1" | tail -1; }

config() { # FILE STORE MODE
  cat > "$1" <<EOF2
search:
  space: ofa_mbv3
  mode: $3
  init: $W
  iterations: $ITER
  per_iteration: $W
  seed: 1
  snapshot_interval: 5
  objectives:
    - {metric: acc, goal: max, ref: 0.6}
    - {metric: latency, goal: min, ref: 200.0}
evaluators:
  - {type: synthetic, sleep_ms: 245, sleep_spread: 24.5}
store: $2
EOF2
}

echo "== $W workers (mpirun -np $NP --oversubscribe on $(nproc) cores), budget $(((ITER + 1) * W)) = $W + $ITER x $W,"
echo "   evaluation times 245 ms x 24.5^u (10 ms - 6 s: 1 s - 10 min scaled down 100x)"
for mode in sync async; do
  for r in $(seq "$R"); do
    rm -f "$T"/s.h5*
    config "$T/s.yaml" s.h5 $mode
    mpirun --oversubscribe -np "$NP" "$AB" search \
      --config "$T/s.yaml" --json --quiet > "$T/s.json" 2> "$T/s.err" || { tail -5 "$T/s.err"; exit 1; }
    "$AB" report "$T/s.h5" --csv "$T/s.csv" > /dev/null
    col=$(head -1 "$T/s.csv" | tr ',' '\n' | grep -n -x seconds | cut -d: -f1)
    busy=$(sed 1d "$T/s.csv" | cut -d, -f"$col" | awk '{ s += $1 } END { print s }')
    awk -v s="$(jnum "$T/s.json" seconds)" -v b="$busy" -v e="$(jnum "$T/s.json" evaluations)" \
      -v h="$(jnum "$T/s.json" hypervolume)" -v w=$W \
      'BEGIN { printf "%.2f %.1f %.1f %.5f %d\n", s, e / s, 100 * b / (w * s), h, b }'
  done | sort -g | awk -v m=$mode '{ w[NR] = $1; r[NR] = $2; u[NR] = $3; h[NR] = $4; b[NR] = $5 }
    END { k = int((NR + 1) / 2)
    printf "%-5s wall %7.2f s  %6.1f evaluations/s  worker utilisation %5.1f%%  busy %d s  hypervolume %.5f\n",
           m, w[k], r[k], u[k], b[k], h[k] }'
done
