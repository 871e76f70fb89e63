#!/usr/bin/env bash
# CLI acceptance tests of `autobuild plot arch|importance|hops`: with a small
# predictor trained on MACs, every picture is a valid PNG of a sensible size,
# `--hops all` writes one picture per hop (F_hop0.png ... F_hopL.png) and
# `--hops L` only F.png; no temporary file is left in the working folder or
# in TMPDIR; a missing `dot` or `gnuplot` is one clear error that leaves an
# existing picture untouched; and every kind of bad input (missing --out, an
# archdata file as predictor, an architecture of another space, a hop the
# predictor does not have) gives exit status 2, one error line and no file.
# When Debian's PyTorch and the authors' predictors are present, a converted
# predictor (no per-hop SRCC recorded) is drawn too.
#
# Needs Graphviz's dot and gnuplot; prints "SKIPPED: ..." and passes
# without them.
# usage: test_plot.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
for tool in dot gnuplot; do
  if ! command -v $tool > /dev/null 2>&1; then
    echo "SKIPPED: '$tool' is not installed (apt-get install graphviz gnuplot-nox)"
    exit 0
  fi
done
AB=$(realpath "$1")
DATA=$(realpath "$2")
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${AB_SHARED:-$SRC/../shared}
T=$(mktemp -d /tmp/ab_cli_plot_XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir "$T/work" "$T/tmp"
cd "$T/work" || exit 1
export TMPDIR=$T/tmp

# png_ok FILE MIN_W MIN_H: a PNG (signature and IHDR) at least MIN_W x MIN_H
# pixels and 5 kB.
png_ok() {
  local f=$1 sig w h
  [ -f "$f" ] || { echo "$f: missing"; return 1; }
  sig=$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')
  [ "$sig" = 89504e470d0a1a0a ] || { echo "$f: not a PNG ($sig)"; return 1; }
  w=$((16#$(od -An -tx1 -j16 -N4 "$f" | tr -d ' \n')))
  h=$((16#$(od -An -tx1 -j20 -N4 "$f" | tr -d ' \n')))
  [ "$w" -ge "$2" ] && [ "$h" -ge "$3" ] || { echo "$f: ${w}x$h pixels, expected >= $2x$3"; return 1; }
  [ "$(stat -c %s "$f")" -ge 5000 ] || { echo "$f: only $(stat -c %s "$f") bytes"; return 1; }
}

# no_leftovers WHAT: no temporary files beside the pictures or in TMPDIR.
no_leftovers() {
  local left
  left=$(ls -A | grep -E '\.tmp-[0-9]+$'; ls -A "$TMPDIR")
  [ -z "$left" ] && ok || bad "$1: temporary files left: $left"
}

# expect_error NAME EXPECTED_SUBSTRING [STATUS] -- CMD...: that exit status
# (default 2), one stderr line with the substring, no new or changed files.
# (its own expect_error: this test needs another variant than lib.sh's)
expect_error() {
  local name=$1 want=$2 status=2
  shift 2
  if [ "$1" != "--" ]; then status=$1; shift; fi
  shift
  local before after
  before=$(find . -type f ! -name out.txt ! -name err.txt -print0 | sort -z | xargs -0r md5sum)
  "$@" > out.txt 2> err.txt
  local rc=$?
  after=$(find . -type f ! -name out.txt ! -name err.txt -print0 | sort -z | xargs -0r md5sum)
  if [ $rc -ne "$status" ]; then bad "$name: exit $rc, expected $status ($(cat err.txt))"; return; fi
  if [ "$(wc -l < err.txt)" -ne 1 ]; then bad "$name: expected one error line, got: $(cat err.txt)"; return; fi
  if ! grep -qF -- "$want" err.txt; then bad "$name: '$want' not in: $(cat err.txt)"; return; fi
  if [ "$before" != "$after" ]; then bad "$name: files changed: $(diff <(echo "$before") <(echo "$after"))"; return; fi
  if [ -n "$(ls -A "$TMPDIR")" ]; then bad "$name: left in TMPDIR: $(ls -A "$TMPDIR")"; return; fi
  ok
}

# --- a small predictor (3 GNN layers: hops 0..3) --------------------------------
"$AB" -q data sample --space ofa_mbv3 --n 150 --seed 1 --out s.jsonl || bad "sample"
"$AB" -q data label --space ofa_mbv3 --archs s.jsonl --out l.csv || bad "label"
"$AB" -q data import --space ofa_mbv3 --csv l.csv --out d.h5 || bad "import"
"$AB" -q train --data d.h5 --target 'macs/1e6' --out p.h5 --epochs 8 --lr 3e-3 --batch 32 \
  --layers 3 --hidden 16 > /dev/null || bad "train"
"$AB" -q data sample --space ofa_pn --n 2 --seed 2 --out pn.jsonl || bad "sample ofa_pn"
head -1 s.jsonl > one.json
rm -f l.csv
[ -s p.h5 ] && [ -s one.json ] && ok || bad "set up"

# --- help ---------------------------------------------------------------------------
"$AB" plot --help > help.txt && grep -q 'plot importance' help.txt && ok || bad "plot --help"
"$AB" plot arch --help > help.txt && grep -q 'F_hop0.png' help.txt && ok || bad "plot arch --help"
"$AB" plot importance --help > help.txt && grep -q 'FE-MLP' help.txt && ok || bad "plot importance --help"
"$AB" plot hops --help > help.txt && grep -q 'SRCC' help.txt && ok || bad "plot hops --help"
rm -f help.txt

# --- plot arch ----------------------------------------------------------------------
"$AB" -q plot arch --predictor p.h5 --arch one.json --out arch.png 2> err.txt ||
  bad "plot arch: $(cat err.txt)"
for l in 0 1 2 3; do
  msg=$(png_ok arch_hop$l.png 600 300) && ok || bad "plot arch --hops all: $msg"
done
[ ! -e arch_hop4.png ] && [ ! -e arch.png ] && ok || bad "--hops all: expected exactly arch_hop0..3.png: $(ls arch*)"
cmp -s arch_hop0.png arch_hop3.png && bad "hops 0 and 3 drew the same picture" || ok
no_leftovers "plot arch"
"$AB" -q plot arch --predictor p.h5 --arch s.jsonl --out hop2.png --hops 2 2> err.txt ||
  bad "plot arch --hops 2: $(cat err.txt)"
msg=$(png_ok hop2.png 600 300) && ok || bad "--hops 2: $msg"
[ ! -e hop2_hop2.png ] && ok || bad "--hops 2 should write hop2.png itself"
# pretty-printed JSON, a folder in --out, a name without extension (F -> F_hopL)
mkdir -p pics
sed 's/,/,\n  /g' one.json > pretty.json
"$AB" -q plot arch --predictor p.h5 --arch pretty.json --out pics/a --hops all 2> err.txt ||
  bad "pretty-printed JSON: $(cat err.txt)"
[ -f pics/a_hop0 ] && [ -f pics/a_hop3 ] && ok || bad "--out without extension: $(ls pics)"
no_leftovers "plot arch --hops 2"

# --- plot importance, plot hops -----------------------------------------------------
"$AB" -q plot importance p.h5 --out imp.png 2> err.txt || bad "plot importance: $(cat err.txt)"
msg=$(png_ok imp.png 900 400) && ok || bad "plot importance: $msg"
"$AB" -q plot hops p.h5 --out hops.png 2> err.txt || bad "plot hops: $(cat err.txt)"
msg=$(png_ok hops.png 600 400) && ok || bad "plot hops: $msg"
no_leftovers "plot importance/hops"
# an existing picture is replaced
cp imp.png old.png
"$AB" -q plot hops p.h5 --out old.png && ! cmp -s old.png imp.png && ok || bad "existing picture not replaced"

# --- bad input ----------------------------------------------------------------------
expect_error "no kind" "arch, importance or hops" -- "$AB" plot
expect_error "unknown kind" "'pie'" -- "$AB" plot pie p.h5 --out x.png
expect_error "arch without --out" "--out" -- "$AB" plot arch --predictor p.h5 --arch one.json
expect_error "importance without --out" "--out" -- "$AB" plot importance p.h5
expect_error "hops without --out" "--out" -- "$AB" plot hops p.h5
expect_error "hops without predictor" "predictor" -- "$AB" plot hops --out x.png
expect_error "unknown option" "--colour" -- "$AB" plot hops p.h5 --out x.png --colour red
expect_error "archdata as predictor (arch)" "autobuild-archdata" -- \
  "$AB" plot arch --predictor d.h5 --arch one.json --out x.png
expect_error "archdata as predictor (importance)" "autobuild-archdata" -- \
  "$AB" plot importance d.h5 --out x.png
expect_error "archdata as predictor (hops)" "autobuild-archdata" -- "$AB" plot hops d.h5 --out x.png
expect_error "ofa_pn arch, ofa_mbv3 predictor" "ofa_pn" -- \
  "$AB" plot arch --predictor p.h5 --arch pn.jsonl --out x.png
grep -q "ofa_mbv3" err.txt && grep -q "pn.jsonl" err.txt && ok || bad "space mismatch message: $(cat err.txt)"
expect_error "hop beyond the predictor" "0 to 3" -- \
  "$AB" plot arch --predictor p.h5 --arch one.json --out x.png --hops 4
expect_error "--hops word" "--hops" -- "$AB" plot arch --predictor p.h5 --arch one.json --out x.png --hops last
: > empty.json
expect_error "empty arch file" "empty.json" -- "$AB" plot arch --predictor p.h5 --arch empty.json --out x.png
rm -f empty.json
expect_error "missing arch file" "nope.json" -- "$AB" plot arch --predictor p.h5 --arch nope.json --out x.png
expect_error "missing predictor" "nope.h5" -- "$AB" plot hops nope.h5 --out x.png

# --- the programs are missing: one line naming the package, old picture kept --------
expect_error "no dot" "apt-get install graphviz" 1 -- \
  env PATH=/nonexistent "$AB" plot arch --predictor p.h5 --arch one.json --out hop2.png --hops 2
expect_error "no gnuplot" "apt-get install gnuplot-nox" 1 -- \
  env PATH=/nonexistent "$AB" plot importance p.h5 --out imp.png
expect_error "unwritable folder" "no/such/dir/x.png" 1 -- \
  "$AB" plot hops p.h5 --out no/such/dir/x.png

# --- a converted authors' predictor: per-hop SRCC n/a -------------------------------
L1=$SHARED/data/autobuild-l1
PT=$(ls "$L1"/minMAE_ofa_mbv3_custom_acc_*_predictor.pt 2> /dev/null | head -1)
if [ -n "$PT" ] && /usr/bin/python3 -c 'import torch, h5py' > /dev/null 2>&1; then
  if /usr/bin/python3 "$SRC/tools/convert_torch_predictor.py" "$PT" "${PT%_predictor.pt}_config.pkl" \
    acc.h5 > /dev/null 2>&1; then
    "$AB" -q plot hops acc.h5 --out acc_hops.png 2> err.txt || bad "converted: plot hops: $(cat err.txt)"
    msg=$(png_ok acc_hops.png 600 400) && ok || bad "converted: plot hops: $msg"
    "$AB" -q plot arch --predictor acc.h5 --arch one.json --out acc.png --hops 4 2> err.txt ||
      bad "converted: plot arch: $(cat err.txt)"
    msg=$(png_ok acc.png 600 300) && ok || bad "converted: plot arch: $msg"
  else
    bad "tools/convert_torch_predictor.py failed on $PT"
  fi
else
  echo "  (no authors' predictors or no /usr/bin/python3 torch: converted predictor not drawn)"
fi
no_leftovers "all"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
