#!/usr/bin/env bash
# CLI acceptance tests of the predictor commands (train, predict, explain):
# a predictor trained on MACs (computed by `data label`, no external files)
# ranks held-out architectures, its JSON outputs carry the documented keys,
# predictions come back in input order, training is deterministic per seed
# (and per thread count), and every kind of bad input gives exit status 2,
# one error line naming the problem and no file left behind.
# usage: test_predictor.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
DATA=$(realpath "$2")
MPIEXEC=${3:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=$(mktemp -d /tmp/ab_cli_predictor_XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
PY=
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import json' 2> /dev/null; then PY=/usr/bin/python3; fi


# close_lists A B TOL: the first columns of A and B (same length) agree within
# TOL relative.
close_lists() {
  [ "$(wc -l < "$1")" = "$(wc -l < "$2")" ] || return 1
  paste "$1" "$2" | awk -F'\t' -v tol="$3" '
    { a = $1 + 0; b = $3 + 0; d = a - b; if (d < 0) d = -d;
      m = (a < 0 ? -a : a); if ((b < 0 ? -b : b) > m) m = (b < 0 ? -b : b);
      if (d > tol * m) { print "line " NR ": " a " vs " b; bad = 1 } }
    END { exit bad }'
}

# --- data: 200 labelled architectures of ofa_mbv3 (MACs, params) ---------------
"$AB" -q data sample --space ofa_mbv3 --n 200 --seed 1 > s.jsonl || bad "sample"
"$AB" -q data label --space ofa_mbv3 --archs s.jsonl --out l.csv || bad "label"
"$AB" -q data import --space ofa_mbv3 --csv l.csv --out d.h5 || bad "import"
"$AB" -q data sample --space ofa_mbv3 --n 25 --seed 9 > q.jsonl || bad "sample queries"
[ -s d.h5 ] && [ "$(wc -l < q.jsonl)" = 25 ] && ok || bad "data set up"
TRAIN=(--epochs 30 --lr 3e-3 --batch 32)

# --- train --json ---------------------------------------------------------------
"$AB" train --data d.h5 --target macs --out p.h5 "${TRAIN[@]}" --json > train.json 2> train.log
rc=$?
[ $rc -eq 0 ] && [ -s p.h5 ] && ok || bad "train: exit $rc: $(tail -3 train.log)"
tail -1 train.json > final.json
if [ -n "$PY" ]; then
  $PY - final.json 4 << 'EOF' && ok || bad "train --json: $(cut -c1-300 final.json)"
import json, math, sys
j = json.loads(open(sys.argv[1]).read())
L = int(sys.argv[2])
for k in ("test_srcc", "hop_srcc", "mae", "mape", "seconds", "epochs"):
    assert k in j, "missing " + k
assert isinstance(j["hop_srcc"], list) and len(j["hop_srcc"]) == L + 1, j["hop_srcc"]
assert all(isinstance(v, (int, float)) for v in j["hop_srcc"])
assert j["epochs"] == 30, j["epochs"]
assert j["test_srcc"] > 0.8, "test SRCC %s" % j["test_srcc"]
assert j["mae"] > 0 and 0 < j["mape"] < 1 and j["seconds"] >= 0
assert j["target"] == "macs"
print("  train: test SRCC %.4f, hop SRCC %s, MAPE %.3f" % (j["test_srcc"], j["hop_srcc"], j["mape"]))
EOF
else
  for k in test_srcc hop_srcc mae mape seconds epochs; do
    grep -q "\"$k\":" final.json && ok || bad "train --json: no $k"
  done
  srcc=$(sed 's/.*"test_srcc":\([-0-9.e]*\).*/\1/' final.json)
  awk -v s="$srcc" 'BEGIN { exit !(s > 0.8) }' && ok || bad "test SRCC $srcc <= 0.8"
  [ "$(sed 's/.*"hop_srcc":\[\([^]]*\)\].*/\1/' final.json | tr ',' '\n' | wc -l)" = 5 ] && ok ||
    bad "hop_srcc does not have L+1 = 5 entries"
fi
# a two-layer predictor reports L+1 = 3 hop SRCCs
"$AB" -q train --data d.h5 --target 'macs/1e6' --out p2.h5 "${TRAIN[@]}" --layers 2 --hidden 8 \
  --json > train2.json 2> /dev/null || bad "train --layers 2"
[ "$(tail -1 train2.json | sed 's/.*"hop_srcc":\[\([^]]*\)\].*/\1/' | tr ',' '\n' | wc -l)" = 3 ] &&
  ok || bad "--layers 2: hop_srcc should have 3 entries: $(tail -1 train2.json | cut -c1-200)"

# --- predict ----------------------------------------------------------------------
"$AB" -q predict --predictor p.h5 --archs q.jsonl --json > pred.jsonl || bad "predict --json"
"$AB" -q predict --predictor p.h5 --archs q.jsonl --json --hops > hops.jsonl || bad "predict --hops"
"$AB" -q predict --predictor p.h5 --archs q.jsonl > pred.tsv || bad "predict"
[ "$(wc -l < pred.jsonl)" = 25 ] && [ "$(wc -l < pred.tsv)" = 25 ] && ok || bad "one line per architecture"
cut -f2 pred.tsv | cmp -s - q.jsonl && ok || bad "plain predict: archs not in input order"
if [ -n "$PY" ]; then
  $PY - q.jsonl pred.jsonl hops.jsonl pred.tsv 4 << 'EOF' && ok || bad "predict --json content"
import json, math, sys
q = [json.loads(l) for l in open(sys.argv[1])]
p = [json.loads(l) for l in open(sys.argv[2])]
h = [json.loads(l) for l in open(sys.argv[3])]
t = [float(l.split("\t")[0]) for l in open(sys.argv[4])]
L = int(sys.argv[5])
assert [x["arch"] for x in p] == q, "archs not in input order"
assert [x["arch"] for x in h] == q, "archs not in input order (--hops)"
for a, b, c in zip(p, h, t):
    assert math.isfinite(a["prediction"]) and a["prediction"] == b["prediction"]
    assert abs(a["prediction"] - c) <= 1e-6 * abs(c)
    assert "hop_norms" not in a
    assert len(b["hop_norms"]) == L + 1 and all(v >= 0 for v in b["hop_norms"])
EOF
else
  sed 's/^{"arch":\(.*\),"prediction":.*/\1/' pred.jsonl | cmp -s - q.jsonl && ok || bad "--json: archs not in input order"
  [ "$(grep -c '"prediction":' pred.jsonl)" = 25 ] && ok || bad "--json: prediction missing"
  [ "$(grep -c '"hop_norms":\[[^],]*,[^],]*,[^],]*,[^],]*,[^],]*\]' hops.jsonl)" = 25 ] && ok ||
    bad "--hops: hop_norms with 5 entries missing"
  grep -q hop_norms pred.jsonl && bad "hop_norms without --hops" || ok
fi

# --- explain ----------------------------------------------------------------------
"$AB" -q explain p.h5 > explain.txt || bad "explain"
for f in stage layer family expansion kernel resolution; do
  grep -q "^  $f:\$" explain.txt && ok || bad "explain: no importance for $f"
done
for v in 'stage 1' 'stage 5' 'layer 4' mbconv3 e6 k7 224; do
  grep -qE "^    $v +[0-9.]+\$" explain.txt && ok || bad "explain: no score for '$v'"
done
"$AB" -q explain p.h5 --json > explain.json || bad "explain --json"
if [ -n "$PY" ]; then
  $PY - explain.json final.json << 'EOF' && ok || bad "explain --json: $(cut -c1-300 explain.json)"
import json, sys
e = json.loads(open(sys.argv[1]).read())
t = json.loads(open(sys.argv[2]).read())
imp = e["importance"]
sizes = {"stage": 5, "layer": 4, "family": 2, "expansion": 3, "kernel": 3}
for f in ("stage", "layer", "family", "expansion", "kernel", "resolution"):
    assert f in imp and imp[f], "no importance for " + f
    assert all(isinstance(v, (int, float)) and v >= 0 for v in imp[f].values())
    if f in sizes: assert len(imp[f]) == sizes[f], (f, imp[f])
assert e["space"] == "ofa_mbv3"
for k in ("test_srcc", "hop_srcc", "mae", "mape", "epochs"):
    assert e[k] == t[k], (k, e[k], t[k])
EOF
else
  grep -q '"importance":{"stage":{' explain.json && grep -q '"resolution":{"' explain.json && ok ||
    bad "explain --json: importance"
fi

# --- determinism -------------------------------------------------------------------
"$AB" -q train --data d.h5 --target macs --out a.h5 "${TRAIN[@]}" --seed 5 > /dev/null || bad "train seed 5"
"$AB" -q train --data d.h5 --target macs --out b.h5 "${TRAIN[@]}" --seed 5 > /dev/null || bad "train seed 5 again"
"$AB" -q train --data d.h5 --target macs --out c.h5 "${TRAIN[@]}" --seed 6 > /dev/null || bad "train seed 6"
"$AB" -q predict --predictor a.h5 --archs q.jsonl > pa.tsv
"$AB" -q predict --predictor b.h5 --archs q.jsonl > pb.tsv
"$AB" -q predict --predictor c.h5 --archs q.jsonl > pc.tsv
cmp -s pa.tsv pb.tsv && ok || bad "same seed, different predictions"
cmp -s pa.tsv pc.tsv && bad "seeds 5 and 6 gave the same predictions" || ok
# threads: the same thread count twice is bit for bit the same; 1 and 2
# threads sum in different orders, and Adam turns float-rounding differences
# of near-zero gradient entries into full steps, so long runs drift apart by
# percents even when both are right (measured: 30 epochs, lr 3e-3 -> ~6%);
# a short run at a small rate must agree within 1e-4 (a correct split gives
# ~4e-5 here, wrong per-thread gradients ~1e-3).
"$AB" -q train --data d.h5 --target macs --out t2.h5 "${TRAIN[@]}" --seed 5 --threads 2 > /dev/null || bad "--threads 2"
"$AB" -q train --data d.h5 --target macs --out t2b.h5 "${TRAIN[@]}" --seed 5 --threads 2 > /dev/null || bad "--threads 2 again"
"$AB" -q train --data d.h5 --target macs --out t1.h5 "${TRAIN[@]}" --seed 5 --threads 1 > /dev/null || bad "--threads 1"
"$AB" -q predict --predictor t1.h5 --archs q.jsonl > p1.tsv
"$AB" -q predict --predictor t2.h5 --archs q.jsonl > p2.tsv
"$AB" -q predict --predictor t2b.h5 --archs q.jsonl > p2b.tsv
cmp -s p1.tsv pa.tsv && ok || bad "--threads 1 differs from the default"
cmp -s p2.tsv p2b.tsv && ok || bad "--threads 2 twice: different predictions"
SHORT=(--epochs 3 --lr 3e-4 --batch 32 --seed 5)
"$AB" -q train --data d.h5 --target macs --out s1.h5 "${SHORT[@]}" --threads 1 > /dev/null || bad "short --threads 1"
"$AB" -q train --data d.h5 --target macs --out s2.h5 "${SHORT[@]}" --threads 2 > /dev/null || bad "short --threads 2"
"$AB" -q predict --predictor s1.h5 --archs q.jsonl > ps1.tsv
"$AB" -q predict --predictor s2.h5 --archs q.jsonl > ps2.tsv
msg=$(close_lists ps1.tsv ps2.tsv 1e-4) && ok || bad "--threads 1 vs 2 differ by more than 1e-4: $(echo "$msg" | head -3)"

# --- bad input ----------------------------------------------------------------------
expect_error "unknown target metric" "'foo'" "$AB" train --data d.h5 --target foo --out x.h5 --epochs 1
head -10 l.csv > l9.csv
"$AB" -q data import --space ofa_mbv3 --csv l9.csv --out d9.h5 || bad "import 9 rows"
expect_error "fewer than 10 rows" "at least 10" "$AB" train --data d9.h5 --target macs --out x.h5 --epochs 1
"$AB" -q data sample --space ofa_pn --n 3 --seed 2 > pn.jsonl || bad "sample ofa_pn"
expect_error "ofa_pn archs, ofa_mbv3 predictor" "ofa_mbv3" "$AB" predict --predictor p.h5 --archs pn.jsonl
grep -q "ofa_pn" err.txt && grep -q "space" err.txt && ok || bad "space mismatch: $(cat err.txt)"
head -c $(($(stat -c %s p.h5) / 2)) p.h5 > trunc.h5
expect_error "truncated checkpoint" "trunc.h5" "$AB" predict --predictor trunc.h5 --archs q.jsonl
expect_error "truncated checkpoint (explain)" "trunc.h5" "$AB" explain trunc.h5
printf 'arch,macs\n' > notes.h5
expect_error "not an HDF5 file" "notes.h5" "$AB" predict --predictor notes.h5 --archs q.jsonl
expect_error "archdata as predictor" "autobuild-archdata" "$AB" predict --predictor d.h5 --archs q.jsonl
expect_error "--epochs -1" "--epochs" "$AB" train --data d.h5 --target macs --out x.h5 --epochs -1
expect_error "--gnn foo" "--gnn" "$AB" train --data d.h5 --target macs --out x.h5 --gnn foo
expect_error "--threads 100" "threads" "$AB" train --data d.h5 --target macs --out x.h5 --epochs 1 --threads 100
expect_error "NaN target" "row" "$AB" train --data d.h5 --target 'np.log(macs - 1e12)' --out x.h5 --epochs 1
expect_error "constant target" "constant" "$AB" train --data d.h5 --target 'macs*0 + 1' --out x.h5 --epochs 1

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
