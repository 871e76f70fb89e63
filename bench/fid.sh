#!/usr/bin/env bash
# Benchmark of `autobuild fid` (worker/fid/fid.c) against the scipy route of
# pytorch-fid (tools/dev/fid_reference.py: h5py, np.cov, scipy.linalg.sqrtm)
# on two sets of N x D float32 features (default 10,000 x 2048, Inception
# pool size) with a low-rank-plus-diagonal covariance (rank 256; set B is a
# perturbed version of set A's structure, so FID is small but not trivial).
#
# Both sides do the whole job: read the two features files, compute both
# statistics (mean, covariance) and the FID; each reports its own wall time
# of that (autobuild: the "seconds" of --json; the reference: time.perf_counter
# around the same steps; interpreter start-up and imports are not counted on
# either side). Each configuration runs R times, the sides alternating, with
# 1 and 2 OpenBLAS threads (OPENBLAS_NUM_THREADS for numpy/scipy, --threads
# for autobuild); the table gives the medians, the speed-up (scipy / ours)
# and the relative difference of the FID values (acceptance: <= 1e-6).
#
# The covariances dominate autobuild's time. `autobuild -v fid` logs the
# GFLOP/s of each covariance (N D (D + 1) flops of dsyrk over the centred
# features, centring included); the script compares them with the machine's
# DSYRK and DGEMM speed measured by numpy (same OpenBLAS) on the same shapes.
#
# Needs Debian's python3-numpy, python3-scipy, python3-h5py.
# usage: bench/fid.sh [BUILD_DIR] [R] [N] [D]
set -euo pipefail
B=$(realpath "${1:-build}")
R=${2:-3}
N=${3:-10000}
D=${4:-2048}
HERE=$(cd "$(dirname "$0")" && pwd)
AB="$B/autobuild"
PY=/usr/bin/python3
REF="$HERE/../tools/dev/fid_reference.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
[ -x "$AB" ] || { echo "no $AB; build first" >&2; exit 2; }
"$PY" -c "import numpy, scipy.linalg, h5py" ||
  { echo "needs python3-numpy python3-scipy python3-h5py" >&2; exit 2; }

echo "generating 2 x $N x $D float32 features ..." >&2
"$PY" "$REF" make --out "$T/A.h5" --n "$N" --d "$D" --rank 256 --structure 1 --seed 1
"$PY" "$REF" make --out "$T/B.h5" --n "$N" --d "$D" --rank 256 --structure 1 --seed 2 \
  --perturb 0.1

# The machine's BLAS speed (numpy -> the same OpenBLAS), best of 3:
# DSYRK as numpy's X^T X (N x D, N D (D + 1) flops) and DGEMM as X^T Y
# (the same shapes as a general product, 2 N D^2 flops).
for th in 1 2; do
  OPENBLAS_NUM_THREADS=$th "$PY" - "$N" "$D" "$th" >> "$T/blas" <<'EOF'
import sys, time
import numpy as np
n, d, th = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
x = np.random.default_rng(0).standard_normal((n, d))
y = np.random.default_rng(1).standard_normal((n, d))
def best(f):
    f()
    t = []
    for _ in range(3):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return min(t)
ts = best(lambda: x.T @ x)
tg = best(lambda: x.T @ y)
print(th, "syrk", n * d * (d + 1) / ts / 1e9)
print(th, "gemm", 2.0 * n * d * d / tg / 1e9)
EOF
done

for round in $(seq 1 "$R"); do
  for th in 1 2; do
    "$AB" -v fid --a "$T/A.h5" --b "$T/B.h5" --json --threads "$th" > "$T/ours.out" 2> "$T/ours.err"
    s=$(tail -1 "$T/ours.out" | sed 's/.*"seconds":\([0-9.eE+-]*\).*/\1/')
    f=$(tail -1 "$T/ours.out" | sed 's/.*"fid":\([0-9.eE+-]*\).*/\1/')
    echo "ours $th $s $f" >> "$T/raw"
    sed -n 's/.*covariance of .* GFLOP, \([0-9.]*\) GFLOP\/s); both: \([0-9.]*\) GFLOP\/s.*/\1 \2/p' \
      "$T/ours.err" | while read -r g1 g2; do echo "$th $g1 $g2" >> "$T/cov"; done
    grep -q "Cholesky route" "$T/ours.err" || echo "note: the eigen route was used" >&2
    [ "$round" = 1 ] && [ "$th" = 1 ] && cp "$T/ours.err" "$T/ours.steps"
    OPENBLAS_NUM_THREADS=$th "$PY" "$REF" fid "$T/A.h5" "$T/B.h5" > "$T/ref.out"
    s=$(sed 's/.*"seconds": *\([0-9.eE+-]*\).*/\1/' "$T/ref.out")
    f=$(sed 's/.*"fid": *\([0-9.eE+-]*\).*/\1/' "$T/ref.out")
    echo "scipy $th $s $f" >> "$T/raw"
  done
  echo "round $round of $R done" >&2
done

echo "FID of two $N x $D float32 feature files (read + statistics + FID), median of $R runs"
echo "autobuild steps (1 thread, round 1, 'autobuild -v fid'):"
sed 's/^\[r0 DEBUG\] /  /; s|'"$T"'/||g' "$T/ours.steps"
awk -v R="$R" '
  function median(key,   m, i, j, t, a) {
    m = n[key]; for (i = 1; i <= m; i++) a[i] = v[key, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  FILENAME ~ /raw$/ { key = $1 " " $2; n[key]++; v[key, n[key]] = $3; fid[$1] = $4 }
  FILENAME ~ /cov$/ { key = "syrk " $1; n[key]++; v[key, n[key]] = $2
                      key = "cov " $1; n[key]++; v[key, n[key]] = $3 }
  FILENAME ~ /blas$/ { blas[$1 " " $2] = $3 }
  END {
    printf "%-8s %12s %12s %9s\n", "threads", "autobuild s", "scipy s", "speed-up"
    for (th = 1; th <= 2; th++) {
      o = median("ours " th); s = median("scipy " th)
      printf "%-8d %12.3f %12.3f %8.2fx\n", th, o, s, s / o
    }
    d = fid["ours"] - fid["scipy"]; if (d < 0) d = -d
    printf "FID autobuild %.12g  scipy %.12g  relative difference %.2e\n", fid["ours"], \
      fid["scipy"], d / fid["scipy"]
    print "covariance GFLOP/s (median of " 2 * R " covariances) vs the machine (numpy, best of 3):"
    printf "%-8s %10s %18s %12s %12s\n", "threads", "our dsyrk", "centring + dsyrk", "numpy DSYRK",
           "numpy DGEMM"
    for (th = 1; th <= 2; th++) {
      sy = median("syrk " th); cv = median("cov " th)
      printf "%-8d %10.1f %18.1f %12.1f %12.1f   (ours: %.0f%% / %.0f%% of DSYRK, %.0f%% / %.0f%% of DGEMM)\n",
             th, sy, cv, blas[th " syrk"], blas[th " gemm"], 100 * sy / blas[th " syrk"],
             100 * cv / blas[th " syrk"], 100 * sy / blas[th " gemm"], 100 * cv / blas[th " gemm"]
    }
  }' "$T/raw" "$T/cov" "$T/blas"
