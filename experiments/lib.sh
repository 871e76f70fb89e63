# Shared steps of the OFA-MBv3 experiments (sourced; needs ROOT, AB, L1 and
# the working folder as the current directory).
#   convert_l1 METRIC...    the authors' pretrained OFA-MBv3 predictors for
#                           these metrics (acc, latency_gpu, ...) converted
#                           from ../shared to l1_METRIC.h5 (outside the
#                           repository), unless already there
#   labelled_data METRIC... data.h5 (and archs.jsonl, data.csv): 3000 random
#                           architectures (seed 1) labelled by l1_METRIC.h5
convert_l1() {
  local m stem
  for m in "$@"; do
    [ -s "l1_$m.h5" ] && continue
    case $m in
      acc) stem=minMAE_ofa_mbv3_custom_acc_GraphConv_sum_directed_srcc1 ;;
      *) stem=minMAE_ofa_mbv3_${m}_custom_${m}_GraphConv_sum_directed_srcc1 ;;
    esac
    /usr/bin/python3 "$ROOT/tools/convert_torch_predictor.py" "$L1/${stem}_predictor.pt" \
      "$L1/${stem}_config.pkl" "l1_$m.h5"
  done
}
labelled_data() {
  local m preds=()
  [ -s data.h5 ] && return 0
  for m in "$@"; do preds+=(--predictor "l1_$m.h5"); done
  "$AB" data sample --space ofa_mbv3 --n 3000 --seed 1 --out archs.jsonl 2> /dev/null
  "$AB" data label --space ofa_mbv3 --archs archs.jsonl "${preds[@]}" --out data.csv 2> /dev/null
  "$AB" data import --space ofa_mbv3 --csv data.csv --out data.h5 2> /dev/null
}
