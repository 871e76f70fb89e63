#!/usr/bin/env bash
# Cross-checks of the AutoBuild authors' pretrained predictors
# ($AB_SHARED/data/autobuild-l1: 4 OFA-MobileNetV3 and 4 OFA-ProxylessNAS
# GraphConv predictors) and of two synthetic GATv2 predictors:
#
#  1. tools/convert_torch_predictor.py converts each .pt + config into an
#     autobuild-predictor checkpoint; bad inputs give exit 2, one stderr line
#     and no output file.
#  2. tools/dev/torch_autobuild.py check-pt: the .pt loaded directly into the
#     plain-PyTorch model (the authors' key names) and the converted .h5 loaded
#     back give identical predictions and hop norms (max |diff| <= 1e-6), and
#     both agree with an independent float64 per-graph implementation of the
#     authors' GraphPredictor.forward_denorm (relative difference <= 1e-4).
#  3. When the binary has `predict`: `autobuild predict --json` on 1000
#     sampled architectures of the predictor's space equals the PyTorch
#     reference: max relative difference <= 1e-4, where each value's
#     difference is divided by max(|torch value|, 1e-3 * mean |torch value|)
#     (mean over the 1000 architectures; per hop for "hop_norms", which are
#     compared when the C output has them). The floor keeps values near zero
#     from turning float32 rounding into huge relative errors.
#
# Needs Debian's /usr/bin/python3 with torch and h5py; prints "SKIPPED: ..."
# and passes without them or without the pretrained files.
# usage: test_pretrained.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${AB_SHARED:-$SRC/../shared}
L1=$SHARED/data/autobuild-l1
PY=/usr/bin/python3
TOL=1e-4

if [ ! -d "$L1" ] || ! ls "$L1"/*_predictor.pt > /dev/null 2>&1; then
  echo "SKIPPED: no pretrained predictors in $L1 (set AB_SHARED to the shared folder)"
  exit 0
fi
if ! "$PY" -c 'import torch, h5py, numpy' > /dev/null 2>&1; then
  echo "SKIPPED: $PY cannot import torch, h5py and numpy (apt-get install python3-torch python3-h5py)"
  exit 0
fi

T=$(mktemp -d /tmp/ab_pretrained_XXXXXX)
trap 'rm -rf "$T"' EXIT
CONV=("$PY" "$SRC/tools/convert_torch_predictor.py")
REF=("$PY" "$SRC/tools/dev/torch_autobuild.py")

have_predict=0
hops=()
if "$AB" predict --help > "$T/help.txt" 2>&1; then
  have_predict=1
  grep -q -- "--hops" "$T/help.txt" && hops=(--hops)
else
  echo "NOTE: '$AB predict' is not available: comparing with the PyTorch reference only"
fi

for space in ofa_mbv3 ofa_pn; do
  "$AB" data sample --space $space --n 1000 --seed 7 > "$T/$space.jsonl" 2> "$T/err.txt" ||
    { bad "sample $space: $(cat "$T/err.txt")"; exit 1; }
done

# check NAME PT CONFIG: convert, compare .pt / .h5 / float64 reference, and C.
check() {
  local name=$1 pt=$2 cfg=$3 space
  local h5="$T/$name.h5"
  if ! "${CONV[@]}" "$pt" "$cfg" "$h5" 2> "$T/err.txt"; then
    bad "$name: convert: $(cat "$T/err.txt")"
    return 0
  fi
  ok
  space=$("$PY" -c 'import h5py, sys; print(h5py.File(sys.argv[1], "r").attrs["space"])' "$h5")
  local archs="$T/$space.jsonl"
  local res
  res=$("${REF[@]}" check-pt --pt "$pt" --config "$cfg" --predictor "$h5" --archs "$archs" \
        --tol $TOL --out "$T/$name.torch.jsonl" 2> "$T/err.txt")
  if [ $? -eq 0 ]; then ok; else bad "$name: PyTorch checks: $res $(cat "$T/err.txt")"; fi
  echo "$name [$space] torch: $res"
  [ $have_predict = 1 ] || return 0
  if ! "$AB" predict --predictor "$h5" --archs "$archs" --json "${hops[@]}" > "$T/$name.c.jsonl" 2> "$T/err.txt"; then
    bad "$name: autobuild predict: $(cat "$T/err.txt")"
    return 0
  fi
  res=$("${REF[@]}" compare --archs "$archs" --ref "$T/$name.torch.jsonl" \
        --got "$T/$name.c.jsonl" --tol $TOL 2> "$T/err.txt")
  if [ $? -eq 0 ]; then ok; else bad "$name: C vs PyTorch: $res $(cat "$T/err.txt")"; fi
  echo "$name [$space] C vs torch: $res"
}

# --- the 8 pretrained predictors ------------------------------------------------
n_pt=0
for pt in "$L1"/*_predictor.pt; do
  cfg=${pt%_predictor.pt}_config.pkl
  name=$(basename "${pt%_predictor.pt}")
  name=${name#minMAE_}
  name=${name%_GraphConv_sum_directed_srcc1}
  check "$name" "$pt" "$cfg"
  n_pt=$((n_pt + 1))
done
[ $n_pt = 8 ] && ok || bad "expected 8 pretrained predictors in $L1, found $n_pt"

# --- GATv2 predictors in the authors' state-dict layout -----------------------------
if "${REF[@]}" synth-pt --space ofa_mbv3 --gnn GATv2Conv --out "$T/gat_mbv3.pt" \
     --config "$T/gat_mbv3.pkl" --seed 3; then
  check gat_mbv3_relu_mean "$T/gat_mbv3.pt" "$T/gat_mbv3.pkl"
else
  bad "synth-pt gat_mbv3"
fi
if "${REF[@]}" synth-pt --space ofa_pn --gnn GATv2Conv --activ leaky_relu --aggr sum \
     --no-residual --out "$T/gat_pn.pt" --config "$T/gat_pn.pkl" --seed 4; then
  check gat_pn_leaky_sum_nores "$T/gat_pn.pt" "$T/gat_pn.pkl"
else
  bad "synth-pt gat_pn"
fi

# --- converter errors: exit 2, one line, no output ----------------------------------
pt0=$(ls "$L1"/*_predictor.pt | head -1)
cfg0=${pt0%_predictor.pt}_config.pkl
mkdir "$T/out"
"$PY" - "$pt0" "$cfg0" "$T" <<'EOF' || bad "making bad inputs"
import pickle, sys, torch
pt, cfg, t = sys.argv[1:]
c = pickle.load(open(cfg, "rb"))
c["families"] = "nb201"
pickle.dump(c, open(t + "/badfam.pkl", "wb"))
sd = torch.load(pt, map_location="cpu")
del sd["encoder.gnn_layers.2.lin_root.weight"]
torch.save(sd, t + "/missing.pt")
sd = torch.load(pt, map_location="cpu")
sd["post_proj.0.weight"] = sd["post_proj.0.weight"][:, :64]
torch.save(sd, t + "/shape.pt")
EOF
# (its own expect_error: this test needs another variant than lib.sh's)
expect_error() {
  local name=$1 want=$2
  shift 2
  "$@" > "$T/o.txt" 2> "$T/err.txt"
  local rc=$?
  if [ $rc -ne 2 ]; then bad "$name: exit $rc, expected 2 ($(cat "$T/err.txt"))"; return; fi
  if [ "$(wc -l < "$T/err.txt")" -ne 1 ]; then bad "$name: expected one error line: $(cat "$T/err.txt")"; return; fi
  if ! grep -qF -- "$want" "$T/err.txt"; then bad "$name: '$want' not in: $(cat "$T/err.txt")"; return; fi
  if [ -n "$(ls -A "$T/out")" ]; then bad "$name: left files: $(ls -A "$T/out")"; rm -f "$T/out"/*; return; fi
  ok
}
expect_error "missing .pt" "no such file" "${CONV[@]}" "$T/nope.pt" "$cfg0" "$T/out/x.h5"
expect_error "missing config" "no such file" "${CONV[@]}" "$pt0" "$T/nope.pkl" "$T/out/x.h5"
expect_error "not a state dict" "not a PyTorch state dict" "${CONV[@]}" "$cfg0" "$cfg0" "$T/out/x.h5"
expect_error "unknown family" "unknown family 'nb201'" "${CONV[@]}" "$pt0" "$T/badfam.pkl" "$T/out/x.h5"
expect_error "missing key" "missing key 'encoder.gnn_layers.2.lin_root.weight'" \
  "${CONV[@]}" "$T/missing.pt" "$cfg0" "$T/out/x.h5"
expect_error "wrong shape" "'post_proj.0.weight' has shape (128, 64), expected (128, 128)" \
  "${CONV[@]}" "$T/shape.pt" "$cfg0" "$T/out/x.h5"
expect_error "GATv2 state dict, GraphConv config" "missing key" \
  "${CONV[@]}" "$T/gat_mbv3.pt" "$cfg0" "$T/out/x.h5"
expect_error "no output argument" "usage" "${CONV[@]}" "$pt0" "$cfg0"
"${CONV[@]}" --help | grep -q "autobuild-predictor" && ok || bad "converter --help"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
