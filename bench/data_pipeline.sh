#!/usr/bin/env bash
# Benchmark of the labelled-data pipeline: wall time of `data sample`,
# `data label`, `data import` and `data export` on N OFA-MBv3 architectures
# (default 3000), each run R times (default 11); prints min / median / max
# milliseconds per step and the peak RSS of the import.
# usage: bench/data_pipeline.sh [BUILD_DIR] [N] [R]
set -euo pipefail
B=$(realpath "${1:-build}")
N=${2:-3000}
R=${3:-11}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
AB="$B/autobuild"
"$AB" data sample --space ofa_mbv3 --n "$N" --seed 1 --out "$T/a.jsonl" 2> /dev/null
"$AB" data label --space ofa_mbv3 --archs "$T/a.jsonl" --out "$T/l.csv" 2> /dev/null

measure() { # name command...
  local name=$1
  shift
  local times=()
  for _ in $(seq "$R"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" > /dev/null 2>&1
    t1=$(date +%s%N)
    times+=($(((t1 - t0) / 1000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v n="$name" '
    { v[NR] = $1 } END { printf "%-8s min %8.2f ms  median %8.2f ms  max %8.2f ms  (%d runs)\n",
      n, v[1] / 1000, v[int((NR + 1) / 2)] / 1000, v[NR] / 1000, NR }'
}
echo "data pipeline, $N ofa_mbv3 architectures, $(nproc) cores"
measure sample "$AB" data sample --space ofa_mbv3 --n "$N" --seed 1 --out "$T/s.jsonl"
measure label "$AB" data label --space ofa_mbv3 --archs "$T/a.jsonl" --out "$T/l2.csv"
measure import "$AB" data import --space ofa_mbv3 --csv "$T/l.csv" --out "$T/d.h5"
measure export "$AB" data export --in "$T/d.h5" --csv "$T/e.csv"
measure info "$AB" data info "$T/d.h5" --target 'macs/params'
/usr/bin/time -f "import peak RSS %M KiB" "$AB" data import --space ofa_mbv3 --csv "$T/l.csv" \
  --out "$T/d.h5" 2>&1 | grep peak
