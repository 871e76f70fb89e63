#!/usr/bin/env bash
# Benchmark of predictor training (issue: the AutoBuild predictor in C):
# 3000 random OFA-MBv3 architectures (seed 1) labelled by the authors'
# pretrained accuracy/latency predictors (converted from ../shared), then
# `autobuild train` for 200 epochs: seconds per epoch, total seconds and peak
# RSS, median of R runs, for 1 and 2 threads; with --torch also the plain
# PyTorch CPU implementation of the same model on the same data
# (tools/dev/torch_autobuild.py) and the ratio.
# usage: bench/train_predictor.sh [--build DIR] [--runs R] [--epochs E] [--torch]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
R=3
E=200
TORCH=0
while [ $# -gt 0 ]; do
  case $1 in
    --build) B=$(realpath "$2"); shift 2 ;;
    --runs) R=$2; shift 2 ;;
    --epochs) E=$2; shift 2 ;;
    --torch) TORCH=1; shift ;;
    *) echo "usage: $0 [--build DIR] [--runs R] [--epochs E] [--torch]" >&2; exit 2 ;;
  esac
done
SHARED=${AB_SHARED:-$ROOT/../shared}
L1=$SHARED/data/autobuild-l1
PY=/usr/bin/python3
if [ ! -d "$L1" ]; then
  echo "bench/train_predictor.sh: the authors' pretrained predictors are not at $L1;" \
       "set AB_SHARED to the folder holding data/autobuild-l1" >&2
  exit 2
fi
if ! $PY -c 'import torch, h5py' 2> /dev/null; then
  echo "bench/train_predictor.sh: converting the pretrained predictors needs Debian's" \
       "python3-torch and python3-h5py (apt-get install python3-torch python3-h5py)" >&2
  exit 2
fi
AB=$B/autobuild
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for m in acc latency_gpu latency_npu; do
  if [ $m = acc ]; then base=minMAE_ofa_mbv3_custom_acc_GraphConv_sum_directed_srcc1
  else base=minMAE_ofa_mbv3_${m}_custom_${m}_GraphConv_sum_directed_srcc1; fi
  $PY "$ROOT/tools/convert_torch_predictor.py" "$L1/${base}_predictor.pt" "$L1/${base}_config.pkl" "$T/$m.h5"
done
"$AB" data sample --space ofa_mbv3 --n 3000 --seed 1 --out "$T/a.jsonl" 2> /dev/null
"$AB" data label --space ofa_mbv3 --archs "$T/a.jsonl" --predictor "$T/acc.h5" \
  --predictor "$T/latency_gpu.h5" --predictor "$T/latency_npu.h5" --out "$T/l.csv" 2> /dev/null
"$AB" data import --space ofa_mbv3 --csv "$T/l.csv" --out "$T/d.h5" 2> /dev/null

median() { sort -g | awk '{v[NR] = $1} END {printf "%s", v[int((NR + 1) / 2)]}'; }
echo "predictor training: 3000 ofa_mbv3 archs, target acc, $E epochs, $(nproc) cores, median of $R runs"
for th in 1 2; do
  : > "$T/s" ; : > "$T/m"
  for _ in $(seq "$R"); do
    /usr/bin/time -f "%M" -o "$T/rss" "$AB" train --data "$T/d.h5" --target acc --out "$T/p.h5" \
      --epochs "$E" --seed 1 --threads $th --json 2> /dev/null | tail -1 > "$T/j"
    $PY -c "import json; print(json.load(open('$T/j'))['seconds'])" >> "$T/s"
    cat "$T/rss" >> "$T/m"
    srcc=$($PY -c "import json; d=json.load(open('$T/j')); print(round(d['test_srcc'],4), [round(x,3) for x in d['hop_srcc']])")
  done
  s=$(median < "$T/s"); m=$(median < "$T/m")
  printf "autobuild  threads=%d  total %7.2f s  %.4f s/epoch  peak RSS %6.1f MB  test SRCC, hops: %s\n" \
    $th "$s" "$(awk -v a="$s" -v b="$E" 'BEGIN {print a / b}')" \
    "$(awk -v a="$m" 'BEGIN {print a / 1024}')" "$srcc"
  echo "$s" > "$T/ab$th"
done
if [ $TORCH = 1 ]; then
  : > "$T/ts"
  for _ in $(seq "$R"); do
    $PY "$ROOT/tools/dev/torch_autobuild.py" train --data "$T/d.h5" --target acc --epochs "$E" \
      --batch 128 --seed 1 --threads 2 2> /dev/null | grep -i "total" | grep -oE "[0-9]+\.[0-9]+" | head -1 >> "$T/ts"
  done
  ts=$(median < "$T/ts")
  printf "pytorch    threads=2  total %7.2f s  ratio pytorch/autobuild(2 threads) %.2fx\n" "$ts" \
    "$(awk -v a="$ts" -v b="$(cat "$T/ab2")" 'BEGIN {print a / b}')"
fi
