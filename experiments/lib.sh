# Shared steps of the OFA experiments (sourced; needs ROOT, AB, L1 and the
# working folder as the current directory; SPACE=ofa_mbv3 (default) or ofa_pn).
#   convert_l1 METRIC...    the authors' pretrained predictors of SPACE for
#                           these metrics (acc, latency_gpu, ...) converted
#                           from ../shared to l1_METRIC.h5 (outside the
#                           repository), unless already there
#   labelled_data METRIC... data.h5 (and archs.jsonl, data.csv): 3000 random
#                           architectures of SPACE (seed 1) labelled by
#                           l1_METRIC.h5
SPACE=${SPACE:-ofa_mbv3}
convert_l1() {
  local m stem
  for m in "$@"; do
    [ -s "l1_$m.h5" ] && continue
    case $m in
      acc) stem=minMAE_${SPACE}_custom_acc_GraphConv_sum_directed_srcc1 ;;
      *) stem=minMAE_${SPACE}_${m}_custom_${m}_GraphConv_sum_directed_srcc1 ;;
    esac
    /usr/bin/python3 "$ROOT/tools/convert_torch_predictor.py" "$L1/${stem}_predictor.pt" \
      "$L1/${stem}_config.pkl" "l1_$m.h5"
  done
}
labelled_data() {
  local m preds=()
  [ -s data.h5 ] && return 0
  for m in "$@"; do preds+=(--predictor "l1_$m.h5"); done
  "$AB" data sample --space "$SPACE" --n 3000 --seed 1 --out archs.jsonl 2> /dev/null
  "$AB" data label --space "$SPACE" --archs archs.jsonl "${preds[@]}" --out data.csv 2> /dev/null
  "$AB" data import --space "$SPACE" --csv data.csv --out data.h5 2> /dev/null
}
