#!/usr/bin/env bash
# `autobuild report --front-csv/--history-csv/--plot` (coordinator/report/
# search_report.c): on a finished store the history CSV has one row per
# recorded iteration and the front CSV front_size rows (both as in
# `report --json`), the front's seqs are the JSON front's, and the picture
# is a PNG; the same works on a store stopped by SIGTERM, on one killed
# during its initial pool (no iteration yet: empty CSVs, the picture says
# so) and on one with three objectives and failed evaluations; the text
# and JSON outputs do not change with the new options. Bad input: a file
# that is not a store (exit 2), an output path that cannot be created, a
# missing gnuplot (exit 1): one error line naming the file, no new file,
# no temporary left, an existing output untouched.
# `report --compare`: two stores (and a labelled dataset under them) in one
# picture, a line per store whose hypervolume is the store's; wrong label
# counts, options that do not go with it, stores of other objectives and a
# dataset without the objectives' columns.
# The picture checks are skipped without gnuplot (apt-get install gnuplot-nox).
# usage: test_report.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
export ASAN_OPTIONS=detect_leaks=0
T=$(mktemp -d /tmp/ab_report_XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir "$T/work" "$T/tmp"
cd "$T/work" || exit 1
export TMPDIR=$T/tmp
have_gnuplot=1
if ! command -v gnuplot > /dev/null 2>&1; then
  have_gnuplot=0
  echo "SKIPPED: the --plot checks ('gnuplot' is not installed: apt-get install gnuplot-nox)"
fi

config() { # FILE STORE INIT ITER PER SLEEP_MS
  cat > "$1" <<EOF
search:
  space: ofa_mbv3
  variant: stage_full
  init: $3
  iterations: $4
  per_iteration: $5
  stage_mutate_prob: 0.5
  seed: 7
  objectives:
    - {metric: acc, goal: max, ref: 0.6}
    - {metric: latency, goal: min, ref: 200.0}
evaluators:
  - {type: synthetic, sleep_ms: $6}
store: $2
EOF
}
jnum() { # FILE KEY: a top-level number of a report --json line
  sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" "$1" | head -1
}
png_ok() { # FILE: a PNG (signature) of at least 10 kB
  [ -f "$1" ] || { echo "$1: missing"; return 1; }
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || {
    echo "$1: not a PNG"; return 1; }
  [ "$(stat -c %s "$1")" -ge 10000 ] || { echo "$1: too small"; return 1; }
}
rows() { # CSV: data rows (the header not counted)
  echo $(($(wc -l < "$1") - 1))
}
plot_args() { # PNG: --plot PNG when gnuplot is there
  [ $have_gnuplot = 1 ] && echo "--plot $1"
}
# check_store NAME STORE: the CSVs (and the picture) agree with report --json
check_store() {
  local name=$1 st=$2
  rm -f front.csv history.csv pic.png
  # shellcheck disable=SC2046
  "$AB" report "$st" --json --front-csv front.csv --history-csv history.csv \
    $(plot_args pic.png) > rep.json 2> rep.err
  [ $? = 0 ] && ok || { bad "$name: report failed: $(cat rep.err)"; return; }
  local n_hist n_front
  n_hist=$(sed 's/.*"history"://' rep.json | grep -o '"iteration":' | wc -l)
  n_front=$(jnum rep.json front_size)
  [ "$(rows history.csv)" = "$n_hist" ] && ok ||
    bad "$name: history rows $(rows history.csv), iterations recorded $n_hist"
  [ "$(rows front.csv)" = "$n_front" ] && ok ||
    bad "$name: front rows $(rows front.csv), front_size $n_front"
  [ "$(head -1 history.csv)" = "iteration,evaluations,unique,failed,front_size,hypervolume" ] &&
    ok || bad "$name: history header: $(head -1 history.csv)"
  head -1 front.csv | grep -q '^seq,.*,arch$' && ok || bad "$name: front header: $(head -1 front.csv)"
  # the front's seqs are the JSON front's, in order
  local want got
  want=$(sed 's/"history".*//' rep.json | grep -o '"seq":[0-9]*' | cut -d: -f2 | tr '\n' ' ')
  got=$(tail -n +2 front.csv | cut -d, -f1 | tr '\n' ' ')
  [ "$want" = "$got" ] && ok || bad "$name: front seqs '$got', JSON '$want'"
  # every arch is one quoted JSON field
  [ "$(tail -n +2 front.csv | grep -vc ',"{.*}"$')" = 0 ] && ok || bad "$name: arch fields"
  if [ $have_gnuplot = 1 ]; then
    msg=$(png_ok pic.png) && ok || bad "$name: $msg"
  fi
}
no_temps() { # NAME: nothing temporary left here or in TMPDIR
  local left
  left=$(ls -A . "$TMPDIR" | grep -e '\.tmp-' -e autobuild-plot)
  [ -z "$left" ] && ok || bad "$1: temporary files left: $left"
}

# --- a finished store ----------------------------------------------------------------
config done.yaml done.h5 40 4 30 0
"$AB" search --config done.yaml --quiet 2> /dev/null && ok || bad "search failed"
check_store "finished" done.h5
[ "$(rows history.csv)" = 5 ] && ok || bad "finished: 5 iterations (0-4) expected"
[ "$(head -1 front.csv)" = "seq,acc,latency,arch" ] && ok || bad "front header: $(head -1 front.csv)"
[ "$(tail -1 history.csv | cut -d, -f1-2)" = "4,160" ] && ok || bad "last history row: $(tail -1 history.csv)"
no_temps "finished"
# the text and JSON outputs do not depend on the new options
"$AB" report done.h5 > plain.txt && "$AB" report done.h5 --front-csv f2.csv > with.txt &&
  cmp -s plain.txt with.txt && ok || bad "text output changed by --front-csv"
"$AB" report done.h5 --json > plain.json && cmp -s plain.json rep.json && ok ||
  bad "JSON output changed by the file options"
"$AB" report --help | grep -q -- "--plot F.png" && ok || bad "help: --plot"
"$AB" report --help | grep -q -- "--history-csv" && ok || bad "help: --history-csv"

# --- interrupted stores ---------------------------------------------------------------
config term.yaml term.h5 40 20 30 20
"$AB" search --config term.yaml --quiet > /dev/null 2>&1 &
p=$!
for _ in $(seq 100); do # until the first iteration is recorded
  sleep 0.1
  grep -q '^I ' term.h5.journal 2> /dev/null && break
done
# while the search runs
rm -f live.csv
"$AB" report term.h5 --history-csv live.csv > /dev/null 2> live.err && [ -f live.csv ] && ok ||
  bad "live store: $(cat live.err)"
kill -TERM $p
wait $p
rc=$?
[ $rc = 75 ] && ok || bad "SIGTERM: exit $rc, expected 75"
check_store "interrupted (SIGTERM)" term.h5
[ "$(rows history.csv)" -ge 1 ] && [ "$(rows history.csv)" -lt 21 ] && ok ||
  bad "interrupted: $(rows history.csv) iterations, expected 1-20"

config pool.yaml pool.h5 400 2 30 20
"$AB" search --config pool.yaml --quiet > /dev/null 2>&1 &
p=$!
for _ in $(seq 100); do # until a few evaluations are recorded, then kill -9
  sleep 0.1
  [ "$(grep -c '^E ' pool.h5.journal 2> /dev/null)" -ge 5 ] && break
done
kill -9 $p
wait $p 2> /dev/null
check_store "killed in the initial pool" pool.h5
[ "$(rows history.csv)" = 0 ] && [ "$(rows front.csv)" = 0 ] && ok ||
  bad "initial pool: no iteration and no front expected"

# --- three objectives, failed evaluations ----------------------------------------------
cat > three.yaml <<EOF
search:
  space: ofa_mbv3
  variant: layer_full
  init: 30
  iterations: 3
  per_iteration: 20
  seed: 3
  objectives:
    - {metric: lat, goal: min, ref: 200.0}
    - {metric: acc, goal: max, ref: 0.6}
    - {metric: mem, goal: min, ref: 1000}
evaluators:
  - {type: synthetic, sleep_ms: 0, fail_rate: 0.1, metrics: [acc, lat, mem]}
store: three.h5
EOF
"$AB" search --config three.yaml --quiet 2> /dev/null && ok || bad "three objectives: search"
check_store "three objectives" three.h5
[ "$(head -1 front.csv)" = "seq,acc,lat,mem,arch" ] && ok || bad "three: front header"

# --- bad input: one line, no file -----------------------------------------------------------
echo "not a store" > notastore.h5
# shellcheck disable=SC2046
expect_error "not a store" "notastore.h5" "$AB" report notastore.h5 --front-csv x.csv \
  --history-csv y.csv $(plot_args z.png)
expect_error "missing store" "missing.h5" "$AB" report missing.h5 --front-csv x.csv
expect_error "one file for two outputs" "same.csv" "$AB" report done.h5 --front-csv same.csv \
  --history-csv same.csv

# io_error NAME SUBSTRING CMD...: exit 1, one stderr line with SUBSTRING, no
# new or changed file here
io_error() {
  local name=$1 want=$2 before after rc
  shift 2
  before=$(ls -A --full-time | grep -v -e out.txt -e err.txt)
  "$@" > out.txt 2> err.txt
  rc=$?
  after=$(ls -A --full-time | grep -v -e out.txt -e err.txt)
  [ $rc = 1 ] || { bad "$name: exit $rc, expected 1 ($(cat err.txt))"; return; }
  [ "$(wc -l < err.txt)" = 1 ] || { bad "$name: not one error line: $(cat err.txt)"; return; }
  grep -qF -- "$want" err.txt || { bad "$name: '$want' not in: $(cat err.txt)"; return; }
  [ "$before" = "$after" ] || { bad "$name: files changed"; return; }
  [ ! -s out.txt ] || { bad "$name: printed a report before failing"; return; }
  ok
}
echo "old front" > keep.csv
echo "a file" > afile
io_error "front CSV under a file" "afile/front.csv" \
  "$AB" report done.h5 --front-csv afile/front.csv --history-csv new_history.csv
io_error "history CSV in a missing folder" "nodir/h.csv" \
  "$AB" report done.h5 --front-csv keep.csv --history-csv nodir/h.csv
[ "$(cat keep.csv)" = "old front" ] && ok || bad "existing front CSV changed by a failed report"
if [ $have_gnuplot = 1 ]; then
  io_error "picture in a missing folder" "nodir/p.png" \
    "$AB" report done.h5 --front-csv keep.csv --history-csv new_history.csv --plot nodir/p.png
  io_error "gnuplot missing" "gnuplot-nox" env PATH=/nonexistent \
    "$AB" report done.h5 --front-csv keep.csv --plot new.png
  [ "$(cat keep.csv)" = "old front" ] && ok || bad "existing front CSV changed by a failed plot"
fi
no_temps "after the errors"

# --- report --compare ------------------------------------------------------------------
sed -e 's/stage_full/layer_full/' -e 's/seed: 7/seed: 8/' done.yaml | sed 's/done.h5/other.h5/' > other.yaml
"$AB" search --config other.yaml --quiet 2> /dev/null && ok || bad "second search failed"
"$AB" data sample --space ofa_mbv3 --n 60 --seed 3 --out d.jsonl 2> /dev/null
{ echo "arch,acc,latency"
  awk '{ gsub(/"/, "\"\""); printf "\"%s\",%.4f,%.2f\n", $0, 0.6 + NR / 1000, 150 + NR }' d.jsonl
} > d.csv
{ echo "arch,flops"; awk '{ gsub(/"/, "\"\""); printf "\"%s\",%d\n", $0, NR }' d.jsonl; } > f.csv
"$AB" data import --space ofa_mbv3 --csv d.csv --out d.h5 2> /dev/null &&
  "$AB" data import --space ofa_mbv3 --csv f.csv --out f.h5 2> /dev/null && ok ||
  bad "datasets not imported"
if [ $have_gnuplot = 1 ]; then
  "$AB" report --compare cmp.png --data d.h5 --label "Stage-Full" --label "Layer-Full" \
    done.h5 other.h5 > cmp.txt 2> cmp.err && ok || bad "compare failed: $(cat cmp.err)"
  msg=$(png_ok cmp.png) && ok || bad "compare: $msg"
  [ "$(wc -l < cmp.txt)" = 3 ] && ok || bad "compare: 3 lines expected: $(cat cmp.txt)"
  for st in done other; do
    want=$("$AB" report $st.h5 --json | sed -n 's/.*"hypervolume":\([-0-9.eE+]*\).*/\1/p' | head -1)
    lab=Stage-Full; [ $st = other ] && lab=Layer-Full
    got=$(awk -v l=$lab '$1 == l { print $4 }' cmp.txt)
    awk -v a="$want" -v b="$got" 'BEGIN { d = a - b; exit !(b != "" && d < 1e-5 * a && -d < 1e-5 * a) }' &&
      ok || bad "compare: $lab hypervolume '$got', the store's $want"
  done
  # without labels the stores' file names; a dataset without acc/latency: a warning
  "$AB" report --compare cmp2.png --data f.h5 done.h5 > cmp2.txt 2> cmp2.err &&
    grep -q '^done.h5 ' cmp2.txt && grep -q "no 'acc' column" cmp2.err && ok ||
    bad "compare without labels / data columns: $(cat cmp2.txt cmp2.err)"
  # three objectives: the first two are drawn, as --plot does
  "$AB" report --compare c3.png three.h5 > /dev/null 2>&1 && png_ok c3.png > /dev/null && ok ||
    bad "compare: a three-objective store alone"
  expect_error "compare: other objectives" "not those of done.h5" \
    "$AB" report --compare c3.png done.h5 three.h5
fi
expect_error "compare: one label for two stores" "one --label per store" \
  "$AB" report --compare c.png --label a done.h5 other.h5
expect_error "compare: with --json" "--compare takes only" \
  "$AB" report --compare c.png --json done.h5
expect_error "--label without --compare" "go with --compare" \
  "$AB" report done.h5 --label a
expect_error "compare: 7 stores" "1 to 6" \
  "$AB" report --compare c.png done.h5 done.h5 done.h5 done.h5 done.h5 done.h5 done.h5
no_temps "after compare"

echo "report: $pass passed, $fail failed"
[ $fail = 0 ]
