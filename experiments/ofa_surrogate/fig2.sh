#!/usr/bin/env bash
# The paper's Fig. 2 with the authors' pretrained predictors as surrogates
# (from ../shared, converted outside the repository): for each space
# (OFA-MBv3, OFA-PN), 3000 random architectures (seed 1) labelled with acc,
# latency_cpu, latency_gpu and latency_npu; one AutoBuild predictor per
# metric (target = the metric itself, 200 epochs, seed 1, 10% held out);
# the test SRCC of the prediction and of ||h_G||_1 at every hop.
#
# usage: experiments/ofa_surrogate/fig2.sh [WORK_DIR]
# needs: build/autobuild; /usr/bin/python3 with python3-torch (conversion)
# writes WORK_DIR/fig2.md (the table) and WORK_DIR/fig2_SPACE_METRIC.png
# (autobuild plot hops), and prints the table.
set -euo pipefail
HERE=$(dirname "$(realpath "$0")")
ROOT=$(realpath "$HERE/../..")
AB="$ROOT/build/autobuild"
L1="$ROOT/../shared/data/autobuild-l1"
W=$(realpath -m "${1:-/tmp/ab-ofa-surrogate}")
metrics=(acc latency_cpu latency_gpu latency_npu)
mkdir -p "$W"
{
  echo "| space | metric | test SRCC | hop 0 | hop 1 | hop 2 | hop 3 | hop 4 |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
} > "$W/fig2.md"
for SPACE in ofa_mbv3 ofa_pn; do
  mkdir -p "$W/$SPACE"
  (
    cd "$W/$SPACE"
    . "$ROOT/experiments/lib.sh"
    convert_l1 "${metrics[@]}" > /dev/null
    labelled_data "${metrics[@]}"
    for m in "${metrics[@]}"; do
      if [ ! -s "fig2_$m.json" ]; then
        "$AB" train --data data.h5 --target "$m" --epochs 200 --seed 1 --out "p_$m.h5" --json \
          2> /dev/null | tail -1 > "fig2_$m.json.tmp"
        mv "fig2_$m.json.tmp" "fig2_$m.json"
      fi
      "$AB" plot hops "p_$m.h5" --out "$W/fig2_${SPACE}_$m.png" 2> /dev/null
      srcc=$(sed -n 's/.*"test_srcc":\([-0-9.eE+]*\).*/\1/p' "fig2_$m.json")
      hops=$(sed -n 's/.*"hop_srcc":\[\([^]]*\)\].*/\1/p' "fig2_$m.json")
      printf '| %s | %s | %.3f |' "$SPACE" "$m" "$srcc"
      echo "$hops" | tr ',' '\n' | while read -r h; do printf ' %.3f |' "$h"; done
      echo
    done
  ) >> "$W/fig2.md"
done
cat "$W/fig2.md"
