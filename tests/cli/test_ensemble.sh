#!/usr/bin/env bash
# Ensembles and the exhaustive-search baseline: `train --folds --seeds`
# plain and under mpirun give identical ensembles, `label` scores with an
# ensemble identically, `exhaustive` ranks whole (reduced) spaces the same on
# any number of ranks, `predict` with an ensemble gives its members' mean
# (and their sd in JSON), the U-Net path constructs only valid U-Nets, and
# bad input fails with one line and exit 2.
# usage: test_ensemble.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
MPIEXEC=${3:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's plugins leak at start-up (see tests/CMakeLists.txt)
export ASAN_OPTIONS=detect_leaks=0
T=$(mktemp -d /tmp/ab_ens_XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
have_mpi=0
command -v "$MPIEXEC" > /dev/null && have_mpi=1

"$AB" data sample --space ofa_mbv3 --n 120 --seed 2 --out a.jsonl 2> /dev/null
"$AB" data label --space ofa_mbv3 --archs a.jsonl --out l.csv 2> /dev/null
"$AB" data import --space ofa_mbv3 --csv l.csv --out d.h5 2> /dev/null

# --- ensembles -------------------------------------------------------------------
"$AB" train --data d.h5 --target 'macs/1e6' --out e1.h5 --epochs 4 --folds 3 --seeds 2 > ens.txt 2> /dev/null
[ $? -eq 0 ] && ok || bad "train --folds 3 --seeds 2"
[ "$(grep -c 'member' ens.txt)" = 6 ] && ok || bad "6 members listed: $(cat ens.txt)"
h5dump -A e1.h5 2> /dev/null | grep -q '"autobuild-ensemble"' && ok || bad "ensemble format attribute"
[ "$(h5dump -n e1.h5 2> /dev/null | grep -c 'group.*/member_[0-9]*$')" = 6 ] && ok || bad "6 member groups"
"$AB" label --predictor e1.h5 --out u1.h5 2> /dev/null && ok || bad "label with an ensemble"
"$AB" units show u1.h5 --top 1 | grep -q "unit 5" && ok || bad "units show of ensemble scores"
if [ $have_mpi = 1 ]; then
  "$MPIEXEC" --oversubscribe -np 2 "$AB" train --data d.h5 --target 'macs/1e6' --out e2.h5 \
    --epochs 4 --folds 3 --seeds 2 > /dev/null 2>&1 && ok || bad "ensemble under mpirun -np 2"
  "$AB" label --predictor e2.h5 --out u2.h5 2> /dev/null
  # the same members, hence the same scores, whatever the number of ranks
  h5dump -d /unit_3/score u1.h5 > s1.txt 2> /dev/null
  h5dump -d /unit_3/score u2.h5 > s2.txt 2> /dev/null
  diff <(sed 1d s1.txt) <(sed 1d s2.txt) > /dev/null && ok || bad "ensemble scores differ between 1 and 2 ranks"
  h5dump -d /member_5/weights/regressor.weight e1.h5 | sed 1d > w1.txt
  h5dump -d /member_5/weights/regressor.weight e2.h5 | sed 1d > w2.txt
  cmp -s w1.txt w2.txt && ok || bad "member 6 weights differ between 1 and 2 ranks"
fi

# --- exhaustive ------------------------------------------------------------------
"$AB" reduce --units u1.h5 --k 2 --out s.h5 > /dev/null 2>&1   # 2^5 = 32 architectures
"$AB" exhaustive --ensemble e1.h5 --space s.h5 --top 40 --batch 8 > x1.txt 2> /dev/null
[ "$(wc -l < x1.txt)" = 32 ] && ok || bad "exhaustive ranks all 32 of the reduced space: $(wc -l < x1.txt)"
[ "$(cut -f2 x1.txt | sort -u | wc -l)" = 32 ] && ok || bad "32 distinct architectures"
cut -f1 x1.txt | sort -g -r -c 2> /dev/null && ok || bad "scores in descending order"
"$AB" data sample --space s.h5 --n 32 --seed 1 | sort > all.txt
cut -f2 x1.txt | sort | cmp -s - all.txt && ok || bad "exhaustive covers exactly the reduced space"
if [ $have_mpi = 1 ]; then
  for np in 2 3; do
    "$MPIEXEC" --oversubscribe -np $np "$AB" exhaustive --ensemble e1.h5 --space s.h5 --top 40 \
      --batch 8 > x$np.txt 2> /dev/null
    cmp -s x1.txt x$np.txt && ok || bad "exhaustive on $np ranks differs from 1 rank"
  done
fi

# --- the U-Net: constrained construction and the exhaustive baseline ------------
"$AB" data sample --space sd_unet_hw --n 40 --seed 3 --out ua.jsonl 2> /dev/null
awk 'BEGIN { print "arch,score" } { n = gsub(/res_/, "&"); a = gsub(/attn_/, "&"); c = gsub(/"/, "\"\""); printf "\"%s\",%d\n", $0, 2 * n + 3 * a + NR % 3 }' \
  ua.jsonl > ul.csv
"$AB" data import --space sd_unet_hw --csv ul.csv --out ud.h5 2> /dev/null && ok || bad "import U-Net labels"
"$AB" train --data ud.h5 --target score --out ue.h5 --epochs 3 --batch 40 --folds 2 --seeds 1 > /dev/null 2>&1 &&
  ok || bad "U-Net ensemble"
"$AB" label --predictor ue.h5 --out uu.h5 2> /dev/null && ok || bad "label U-Net units"
"$AB" build --units uu.h5 --top 30 > ub.jsonl 2> ub.err && ok || bad "build U-Nets: $(cat ub.err)"
[ "$(sort -u ub.jsonl | wc -l)" = 30 ] && ok || bad "30 distinct constructed U-Nets"
# every constructed U-Net is valid: importing them checks each against the space
awk 'BEGIN { print "arch,x" } { gsub(/"/, "\"\""); printf "\"%s\",1\n", $0 }' ub.jsonl > ubc.csv
"$AB" data import --space sd_unet_hw --csv ubc.csv --out ubc.h5 2> /dev/null && ok || bad "constructed U-Nets are valid"
"$AB" exhaustive --ensemble ue.h5 --top 5 > ux.txt 2> /dev/null && [ "$(wc -l < ux.txt)" = 5 ] && ok ||
  bad "exhaustive over sd_unet_hw"

# --- bad input ---------------------------------------------------------------------
expect_error "--folds 1" "--folds" "$AB" train --data d.h5 --target macs --out z.h5 --folds 1
expect_error "exhaustive on a huge space" "reduce it first" "$AB" exhaustive --ensemble e1.h5 --top 3
"$AB" train --data d.h5 --target macs --out p1.h5 --epochs 1 > /dev/null 2>&1
expect_error "exhaustive with a predictor" "not a 'autobuild-ensemble'" "$AB" exhaustive --ensemble p1.h5 --top 3
# predict with an ensemble: the members' mean, in input order, with their sd in JSON
"$AB" predict --predictor e1.h5 --archs a.jsonl > ep.txt 2> /dev/null && ok || bad "predict with an ensemble"
cut -f2 ep.txt | cmp -s - a.jsonl && ok || bad "ensemble predictions not in input order"
"$AB" predict --predictor e1.h5 --archs a.jsonl --json > ep.json 2> /dev/null
[ "$(grep -c '"members":6' ep.json)" = 120 ] && ok || bad "JSON: members 6 on every line"
[ "$(grep -o '"sd":[-0-9.e+]*' ep.json | awk -F: '$2 > 0' | wc -l)" = 120 ] && ok ||
  bad "JSON: the members disagree (sd > 0) on every architecture"
diff <(cut -f1 ep.txt) <(sed 's/.*"prediction":\([-0-9.e+]*\).*/\1/' ep.json) > /dev/null && ok ||
  bad "text and JSON predictions differ"
expect_error "predict --hops with an ensemble" "needs a single predictor" \
  "$AB" predict --predictor e1.h5 --archs a.jsonl --hops
expect_error "exhaustive of another space" "is of space" "$AB" exhaustive --ensemble e1.h5 --space ofa_pn --top 3
[ ! -e z.h5 ] && ok || bad "a failed training left z.h5"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
