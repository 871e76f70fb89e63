#!/usr/bin/env bash
# The paper's Stable Diffusion application (METHOD.md sections 5 and 7;
# issue 7 item 4) as one resumable script:
#   (a) sample 68 sd_unet architectures (seed 1)             -> archs.jsonl
#   (b) evaluate them with the external job (FID)             -> labels.h5, data.h5
#       (the test double by default: reference statistics      -> ref.h5)
#   (c) train two 20-member ensembles (5 folds x 4 seeds) on -fid (higher is
#       better): AutoBuild's (lambda 1) and plain MSE ones (lambda 0)
#                                                              -> ens.h5, ens_mse.h5
#   (d) AutoBuild: score every module (Eq. 5) and construct the 4 best
#       score-sum U-Nets under the channel rules               -> units.h5, autobuild_top4.jsonl
#       exhaustive baseline: rank all 98,304 U-Nets with the MSE ensemble
#                                                              -> exhaustive_top4.jsonl
#   (e) evaluate those 8 with the same job                     -> final.h5
#   (f) the paper's Table 1: FID of the 4 U-Nets of each method, mean, best
#                                                              -> table1.md (also printed)
#
# usage: experiments/sd-unet/run.sh [--ci] [--job JOB.yaml] [WORK_DIR]
#   WORK_DIR      default /tmp/ab-sd-unet; run the same command again after a
#                 crash, kill or preemption: finished steps are skipped, the
#                 evaluations resume from their stores and re-attach to jobs
#                 still running (none is launched twice)
#   --job FILE    the job definition (an `evaluators:` block with absolute
#                 paths), e.g. real-job.yaml once its paths are yours; default:
#                 the TEST DOUBLE (test-double-job.yaml), which trains nothing
#   --ci          the CI-sized variant: test double with 50 ms jobs, 256 x 64
#                 features, small predictors (hidden 8, 2 layers, 30 epochs);
#                 a couple of minutes on 2 cores
# environment (defaults in brackets; --ci changes the starred ones):
#   AUTOBUILD [build/autobuild]   MPIEXEC [mpirun]
#   SD_N [68]  SD_NP [3: evaluation ranks = 1 coordinator + 2 concurrent jobs]
#   SD_TRAIN_NP [2]  SD_FOLDS [5]  SD_SEEDS [4]  SD_TARGET [-fid]
#   SD_EPOCHS* [200]  SD_HIDDEN* [32]  SD_LAYERS* [6]
#   SD_SLEEP_MS* [1000]  SD_ROWS* [4096]  SD_DIMS* [64]   (test double only: 64-dim
#                 features, so that 4096 rows per job estimate the covariance
#                 well and the FID follows the architecture; at Inception's 2048
#                 dimensions it would take far more rows than a test needs)
# exit status: 0 done; 75 an evaluation was stopped by SIGTERM/SIGUSR1 (run
# again to continue); else the failing step's.
set -euo pipefail
# mpirun as root (containers, CI) needs these; harmless otherwise
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
HERE=$(dirname "$(realpath "$0")")
ROOT=$(realpath "$HERE/../..")
CI=0
JOB=""
while [ $# -gt 0 ]; do
  case $1 in
    --ci) CI=1; shift ;;
    --job) JOB=$(realpath "$2"); shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
W=${1:-/tmp/ab-sd-unet}
AB=$(realpath "${AUTOBUILD:-$ROOT/build/autobuild}")
MPIEXEC=${MPIEXEC:-mpirun}
N=${SD_N:-68}
NP=${SD_NP:-3}
TNP=${SD_TRAIN_NP:-2}
FOLDS=${SD_FOLDS:-5}
SEEDS=${SD_SEEDS:-4}
TARGET=${SD_TARGET:--fid}
if [ $CI = 1 ]; then
  EPOCHS=${SD_EPOCHS:-30} HIDDEN=${SD_HIDDEN:-8} LAYERS=${SD_LAYERS:-2}
  SLEEP_MS=${SD_SLEEP_MS:-50} ROWS=${SD_ROWS:-256} DIMS=${SD_DIMS:-64}
else
  EPOCHS=${SD_EPOCHS:-200} HIDDEN=${SD_HIDDEN:-32} LAYERS=${SD_LAYERS:-6}
  SLEEP_MS=${SD_SLEEP_MS:-1000} ROWS=${SD_ROWS:-4096} DIMS=${SD_DIMS:-64}
fi
mkdir -p "$W"
cd "$W"
say() { echo "[sd-unet] $*" >&2; }
# launch NP CMD...: CMD under the MPI launcher with NP ranks (plain when NP is 1)
launch() {
  local np=$1
  shift
  if [ "$np" -gt 1 ]; then "$MPIEXEC" --oversubscribe -np "$np" "$@"; else "$@"; fi
}

# (a) the architectures to label
if [ ! -s archs.jsonl ]; then
  "$AB" data sample --space sd_unet --n "$N" --seed 1 --out archs.jsonl 2> /dev/null
fi

# (b) the job definition, reference statistics, labelling
if [ -z "$JOB" ]; then
  sed -e "s#@AUTOBUILD@#$AB#; s#@SLEEP_MS@#$SLEEP_MS#; s#@ROWS@#$ROWS#; s#@DIMS@#$DIMS#" \
    "$HERE/test-double-job.yaml" > job.yaml.tmp && mv job.yaml.tmp job.yaml
  if [ ! -s ref.h5 ]; then
    "$AB" test-double job --reference --result ref_feats.h5 --rows "$ROWS" --dims "$DIMS"
    "$AB" fid stats ref_feats.h5 --out ref.h5 2> /dev/null
  fi
  say "job: the TEST DOUBLE (no fine-tune; ${SLEEP_MS} ms, $ROWS x $DIMS features)"
else
  cp "$JOB" job.yaml.tmp && mv job.yaml.tmp job.yaml
  say "job: $JOB"
fi
evaluate_config() { # ARCHS STORE DATASET
  { printf 'space: sd_unet\narchs: %s\nstore: %s\ndataset: %s\n' "$1" "$2" "$3"
    grep -v '^ *#' job.yaml; } > "$2.yaml.tmp"
  mv "$2.yaml.tmp" "${2%.h5}.yaml"
}
evaluate_config archs.jsonl labels.h5 data.h5
say "(b) evaluating $N architectures under $MPIEXEC -np $NP -> labels.h5, data.h5"
launch "$NP" "$AB" evaluate --config labels.yaml --json > labels.json
tail -1 labels.json >&2

# (c) the ensembles: target -fid, so that higher is better for label, build
# and exhaustive alike
train() { # OUT LAMBDA
  [ -s "$1" ] && return 0
  launch "$TNP" "$AB" train --data data.h5 --target="$TARGET" --folds "$FOLDS" --seeds "$SEEDS" \
    --epochs "$EPOCHS" --hidden "$HIDDEN" --layers "$LAYERS" --lambda "$2" --out "$1" \
    > "${1%.h5}.log" 2>&1 || { tail -3 "${1%.h5}.log" >&2; return 1; }
}
say "(c) training the ensembles ($FOLDS folds x $SEEDS seeds, target $TARGET, $EPOCHS epochs)"
train ens.h5 1
train ens_mse.h5 0

# (d) AutoBuild's top 4 and the exhaustive-search baseline's top 4
if [ ! -s autobuild_top4.jsonl ]; then
  "$AB" label --predictor ens.h5 --out units.h5 2> /dev/null
  "$AB" build --units units.h5 --top 4 > autobuild_top4.jsonl.tmp
  mv autobuild_top4.jsonl.tmp autobuild_top4.jsonl
fi
if [ ! -s exhaustive_top4.jsonl ]; then
  say "(d) exhaustive search: ranking every sd_unet architecture with the MSE ensemble"
  launch "$TNP" "$AB" exhaustive --ensemble ens_mse.h5 --top 4 2> exhaustive.log |
    cut -f 2 > exhaustive_top4.jsonl.tmp
  [ "$(grep -c . exhaustive_top4.jsonl.tmp)" = 4 ] || { tail -3 exhaustive.log >&2; exit 1; }
  mv exhaustive_top4.jsonl.tmp exhaustive_top4.jsonl
fi

# (e) evaluate the 8 constructed U-Nets (AutoBuild's first)
cat autobuild_top4.jsonl exhaustive_top4.jsonl > final.jsonl.tmp
cmp -s final.jsonl.tmp final.jsonl 2> /dev/null || mv final.jsonl.tmp final.jsonl
rm -f final.jsonl.tmp
evaluate_config final.jsonl final.h5 final_data.h5
say "(e) evaluating the 8 constructed U-Nets -> final.h5"
launch "$NP" "$AB" evaluate --config final.yaml --json > final.json
tail -1 final.json >&2

# (f) Table 1
"$AB" report final.h5 --csv final.csv > /dev/null 2>&1
"$AB" data info data.h5 --json > data_info.json 2> /dev/null
labelled_mean=$(sed -n 's/.*"fid":{"min":\([-0-9.eE+]*\),"mean":\([-0-9.eE+]*\).*/\2/p' data_info.json)
labelled_best=$(sed -n 's/.*"fid":{"min":\([-0-9.eE+]*\),.*/\1/p' data_info.json)
labelled_n=$(sed -n 's/.*"n":\([0-9]*\).*/\1/p' data_info.json)
awk -F, -v lm="$labelled_mean" -v lb="$labelled_best" -v ln="$labelled_n" -v n="$N" \
  -v job="$([ -z "$JOB" ] && echo "the TEST DOUBLE job (synthetic features; not a fine-tune)" || echo "$JOB")" '
  FILENAME == ARGV[1] { line[FNR - 1] = $0; if (!($0 in first)) first[$0] = FNR - 1; next }
  FNR == 1 { next }   # the CSV header
  { fid[$1] = ($3 == 0 && $4 != "nan") ? $4 : "failed" }
  END {
    print "# SD v1.4 inpainting U-Net: AutoBuild vs exhaustive search (Table 1 layout)"
    print ""
    printf "FID of each method'"'"'s 4 U-Nets in construction order (lower is better), evaluated by %s.\n\n", job
    print "| method | U-Net 1 | U-Net 2 | U-Net 3 | U-Net 4 | mean | best |"
    print "|---|---|---|---|---|---|---|"
    printf "| labelled set (%d of %d random, evaluated) | | | | | %.2f | %.2f |\n", ln, n, lm, lb
    row("exhaustive search (MSE ensemble, all 98,304)", 4)
    row("AutoBuild (ensemble module scores, Eq. 5)", 0)
  }
  function row(name, from,   k, v, s, c, best, out) {
    s = 0; c = 0; best = ""; out = ""
    for (k = from; k < from + 4; k++) {
      v = fid[first[line[k]]]
      if (v == "") v = "missing"
      if (v != "failed" && v != "missing") {
        s += v; c++; if (best == "" || v + 0 < best + 0) best = v
        out = out sprintf(" %.2f |", v)
      } else out = out " " v " |"
    }
    printf "| %s |%s %s | %s |\n", name, out, c ? sprintf("%.2f", s / c) : "-",
      best == "" ? "-" : sprintf("%.2f", best)
  }' final.jsonl final.csv > table1.md.tmp
mv table1.md.tmp table1.md
cat table1.md
