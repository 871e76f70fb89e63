#!/usr/bin/env bash
# CLI acceptance tests of the module commands (label, units show, reduce,
# build): predictors trained on MACs and params (computed by `data label`)
# score every subgraph of ofa_mbv3 (5 x 7371) and ofa_pn (4 x 7371 + 66339);
# reduced spaces have the announced sizes, hold exactly the union of the
# top-K sets and are sampled exhaustively; `build` gives valid, unique
# architectures best first, and on macro8 (6561 architectures) its top 50
# and its whole enumeration agree with brute force over the units file's
# scores; bad input gives exit status 2, one error line and no file.
# usage: test_modules.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
DATA=$(realpath "$2")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=$(mktemp -d /tmp/ab_cli_modules_XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
PY=
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import json, re, subprocess' 2> /dev/null; then PY=/usr/bin/python3; fi
H5DUMP=$(command -v h5dump || true)


# h5vals FILE DATASET: the dataset's values, one per line (floats exact).
h5vals() {
  local tmp
  tmp=$(mktemp "$T/h5vals.XXXXXX")
  "$H5DUMP" -d "$2" -m '%.17g' -y -w 0 -o "$tmp" "$1" > /dev/null || { rm -f "$tmp"; return 1; }
  tr ',' '\n' < "$tmp" | tr -d ' ' | grep -v '^$'
  rm -f "$tmp"
}

# h5layout FILE: "path type" for every dataset and "@name type" for every
# root attribute (the schema of hdf5-schemas/*.md), sorted.
h5layout() {
  "$H5DUMP" -H "$1" | awk '
    /^ *GROUP "/ { g = $2; gsub(/"/, "", g); g = (g == "/") ? "" : "/" g; next }
    /^ *DATASET "/ { d = $2; gsub(/"/, "", d); name = g "/" d; next }
    /^   ATTRIBUTE "/ { a = $2; gsub(/"/, "", a); name = "@" a; next }
    /DATATYPE/ && name != "" { t = $2; if (t == "H5T_STRING") t = "string"; print name, t; name = "" }' | sort
}

# rows_per_unit FILE: the number of table rows under each "unit N (" header
# of `units show` output, space separated.
rows_per_unit() {
  awk '/^unit [0-9]+ \(/ { if (u) printf "%d ", n; u = 1; n = 0; next }
       /^ +[0-9]+ +-?[0-9.]+ +[0-9.]+ +[0-9]+  \[/ { n++ }
       END { if (u) printf "%d", n }' "$1"
}

# --- data: 200 labelled ofa_mbv3 architectures, 120 ofa_pn ones ----------------
"$AB" -q data sample --space ofa_mbv3 --n 200 --seed 1 > s.jsonl || bad "sample"
"$AB" -q data label --space ofa_mbv3 --archs s.jsonl --out l.csv || bad "data label"
"$AB" -q data import --space ofa_mbv3 --csv l.csv --out d.h5 || bad "import"
"$AB" -q data sample --space ofa_pn --n 120 --seed 1 > spn.jsonl || bad "sample ofa_pn"
"$AB" -q data label --space ofa_pn --archs spn.jsonl --out lpn.csv || bad "data label ofa_pn"
"$AB" -q data import --space ofa_pn --csv lpn.csv --out dpn.h5 || bad "import ofa_pn"
TRAIN=(--epochs 20 --lr 3e-3 --batch 32)
"$AB" -q train --data d.h5 --target macs --out p.h5 "${TRAIN[@]}" > /dev/null || bad "train macs"
"$AB" -q train --data d.h5 --target params --out p2.h5 "${TRAIN[@]}" > /dev/null || bad "train params"
"$AB" -q train --data dpn.h5 --target macs --out ppn.h5 --epochs 3 --batch 32 > /dev/null || bad "train ofa_pn"
[ -s p.h5 ] && [ -s p2.h5 ] && [ -s ppn.h5 ] && ok || bad "predictors set up"

# --- label: every subgraph of every unit, once -----------------------------------
"$AB" -q label --predictor p.h5 --out u.h5 && [ -s u.h5 ] && ok || bad "label"
"$AB" -q label --predictor p2.h5 --out u2.h5 --threads 2 && ok || bad "label params"
"$AB" -q label --predictor ppn.h5 --out upn.h5 && ok || bad "label ofa_pn"
"$AB" units show u.h5 --top 100000 > all.txt || bad "units show all"
n=$(grep -cE '^ +[0-9]+ +-?[0-9.]+ +[0-9.]+ +[0-9]+  \[' all.txt)
[ "$n" = 36855 ] && ok || bad "units show: $n rows, expected 36855 (5 x 7371)"
[ "$(rows_per_unit all.txt)" = "7371 7371 7371 7371 7371" ] && ok || bad "rows per unit: $(rows_per_unit all.txt)"
head -1 all.txt | grep -q "space ofa_mbv3, target macs, predictor p.h5, resolution 224" && ok || bad "units show header: $(head -1 all.txt)"
# within each unit: ranks 1..7371, scores non-increasing, no subgraph twice
awk '/^unit / { r = 0; prev = ""; next }
     /^ +[0-9]+ +-?[0-9.]+ / { r++; if ($1 != r) bad = 1; if (prev != "" && $2 > prev + 1e-3) bad = 1; prev = $2 }
     END { exit bad }' all.txt && ok || bad "units show: ranks or score order"
[ "$(awk '/^unit / { u++ } /^ +[0-9]+ +-?[0-9.]+ / { print u, $5 }' all.txt | sort -u | wc -l)" = 36855 ] && ok || bad "units show: repeated subgraphs"
"$AB" units show upn.h5 --top 100000 > allpn.txt || bad "units show ofa_pn"
[ "$(rows_per_unit allpn.txt)" = "7371 7371 7371 7371 66339" ] && ok || bad "ofa_pn rows per unit: $(rows_per_unit allpn.txt)"
grep -q "^unit 5 (stages 5-6), 66339 subgraphs" allpn.txt && ok || bad "ofa_pn merged unit header"
if [ -n "$H5DUMP" ]; then
  # the file itself: 5 groups of 5 datasets of 7371 entries
  [ "$(h5dump -H u.h5 | grep -c 'SIMPLE { ( 7371 ) / ( 7371 ) }')" = 25 ] && ok || bad "h5dump: dataset shapes"
  # the documented layout (hdf5-schemas/units.md)
  want="/unit_N/index H5T_STD_U64LE
/unit_N/nodes H5T_STD_I32LE
/unit_N/raw H5T_IEEE_F64LE
/unit_N/score H5T_IEEE_F64LE
/unit_N/subgraph string
@created_by string
@format string
@format_version H5T_STD_I64LE
@n_units H5T_STD_I64LE
@predictor string
@resolution H5T_STD_I64LE
@space string
@space_definition string
@target string"
  [ "$(h5layout u.h5 | sed 's,^/unit_[0-9]*/,/unit_N/,' | sort -u)" = "$want" ] && ok || bad "units file layout: $(h5layout u.h5 | sed 's,^/unit_[0-9]*/,/unit_N/,' | sort -u | tr '\n' ' ')"
  [ "$(h5layout u.h5 | grep -c '^/unit_[1-5]/')" = 25 ] && ok || bad "units file: groups unit_1..unit_5"
  h5vals u.h5 /unit_3/index | sort -n | awk '$1 != NR - 1 { bad = 1 } END { exit bad || NR != 7371 }' && ok || bad "unit_3/index is not a permutation of 0..7370"
fi
if [ -n "$H5DUMP" ]; then
  # index and text columns agree with the space's enumeration (space subgraphs)
  agree=1
  for r in 1 2 777; do
    idx=$(h5vals u.h5 /unit_2/index | sed -n "${r}p")
    want=$("$AB" space subgraphs ofa_mbv3 --unit 2 --start "$idx" --limit 1 | sed 's/.*"stages":\(.*\)}$/\1/; s/"//g')
    got=$("$AB" units show u.h5 --unit 2 --top "$r" | tail -1 | awk '{ print $5 }')
    [ -n "$want" ] && [ "$want" = "$got" ] || { agree=0; echo "  rank $r index $idx: '$got' vs space subgraphs '$want'"; }
  done
  [ $agree = 1 ] && ok || bad "units file rows do not match 'space subgraphs'"
fi
"$AB" units show u.h5 --top 3 > top3.txt || bad "units show --top 3"
[ "$(rows_per_unit top3.txt)" = "3 3 3 3 3" ] && ok || bad "--top 3 rows per unit: $(rows_per_unit top3.txt)"
"$AB" units show u.h5 --top 4 --unit 2 > u2top.txt || bad "units show --unit 2"
[ "$(rows_per_unit u2top.txt)" = 4 ] && grep -q '^unit 2 (stage 2), 7371 subgraphs' u2top.txt && ok || bad "--unit 2: $(cat u2top.txt)"

# --- reduce ---------------------------------------------------------------------
"$AB" reduce --units u.h5 --k 5 --out S.h5 > red.txt 2> red.err && ok || bad "reduce --k 5: $(cat red.err)"
grep -q "5 5 5 5 5 subgraphs per unit -> 3125 architectures" red.txt && ok || bad "reduce output: $(cat red.txt)"
"$AB" space info S.h5 > info.txt || bad "space info S.h5"
grep -q "= 3125 " info.txt && grep -q "reduced space from S.h5" info.txt && ok || bad "space info: $(grep -e architectures -e reduced info.txt)"
"$AB" space info S.h5 --json | grep -q '"architectures":"3125"' && ok || bad "space info --json"
"$AB" -q reduce --units u.h5 --k 2,3,4,5,6 --out S720.h5 > red2.txt || bad "reduce --k 2,3,4,5,6"
grep -q "2 3 4 5 6 subgraphs per unit -> 720 architectures" red2.txt && ok || bad "reduce 720: $(cat red2.txt)"
"$AB" space info S720.h5 | grep -q "2 x 3 x 4 x 5 x 6 = 720 " && ok || bad "space info S720.h5"
# the union of two predictors' top-5 sets
"$AB" reduce --units u.h5 --units u2.h5 --k 5 --out SU.h5 > redu.txt || bad "reduce two units files"
read -r -a per < <(sed -n 's/.*: \(.*\) subgraphs per unit.*/\1/p' redu.txt)
size=$(sed -n 's/.* -> \([0-9]*\) architectures.*/\1/p' redu.txt)
prod=1; inrange=1
for c in "${per[@]}"; do prod=$((prod * c)); { [ "$c" -ge 5 ] && [ "$c" -le 10 ]; } || inrange=0; done
[ "${#per[@]}" = 5 ] && [ $inrange = 1 ] && [ "$size" = "$prod" ] && [ "$size" -ge 3125 ] && [ "$size" -le 100000 ] && ok || bad "union sizes: $(cat redu.txt)"
"$AB" space info SU.h5 | grep -q "= $size " && ok || bad "space info SU.h5"
# constrained: the top 2 of each size (2, 3 and 4 layers) in every unit
"$AB" -q reduce --units u.h5 --k 2 --select constrained --out SC.h5 > redc.txt || bad "reduce --select constrained"
grep -q "6 6 6 6 6 subgraphs per unit -> 7776 " redc.txt && ok || bad "constrained k=2: $(cat redc.txt)"
"$AB" units show SC.h5 > /dev/null 2>&1 && bad "units show accepted a reduced space" || ok
if [ -n "$H5DUMP" ]; then
  want=$(paste <(h5vals u.h5 /unit_4/index) <(h5vals u.h5 /unit_4/nodes) | awk '{ if (c[$2]++ < 2) print $1 }' | sort -n | tr '\n' ' ')
  got=$(h5vals SC.h5 /unit_4/index | tr '\n' ' ')
  [ "$want" = "$got" ] && ok || bad "constrained unit 4: want $want got $got"
fi
"$AB" -q reduce --units u.h5 --units u.h5 --k 5 --out SS.h5 | grep -q "5 5 5 5 5 subgraphs per unit -> 3125 " && ok || bad "a units file twice: no repeats"
echo "  reduce: k=5 -> 3125; k=2..6 -> 720; union of macs and params top-5: ${per[*]} -> $size"
if [ -n "$H5DUMP" ]; then
  # the documented layout (hdf5-schemas/reduced-space.md)
  want="/resolutions H5T_STD_I32LE
/unit_N/index H5T_STD_U64LE
/unit_N/subgraph string
@created_by string
@format string
@format_version H5T_STD_I64LE
@size string
@space string
@space_definition string"
  [ "$(h5layout S.h5 | sed 's,^/unit_[0-9]*/,/unit_N/,' | sort -u)" = "$want" ] && ok || bad "reduced-space layout: $(h5layout S.h5 | sed 's,^/unit_[0-9]*/,/unit_N/,' | sort -u | tr '\n' ' ')"
  [ "$(h5vals S.h5 /resolutions)" = 224 ] && ok || bad "reduced space /resolutions"
  same=1
  for u in 1 2 3 4 5; do
    want=$( (h5vals u.h5 /unit_$u/index | head -5; h5vals u2.h5 /unit_$u/index | head -5) | sort -n -u | tr '\n' ' ')
    got=$(h5vals SU.h5 /unit_$u/index | tr '\n' ' ')
    [ "$want" = "$got" ] || { same=0; echo "  unit $u: want $want got $got"; }
    want=$(h5vals u.h5 /unit_$u/index | head -5 | sort -n | tr '\n' ' ')
    got=$(h5vals S.h5 /unit_$u/index | tr '\n' ' ')
    [ "$want" = "$got" ] || { same=0; echo "  unit $u (k 5): want $want got $got"; }
  done
  [ $same = 1 ] && ok || bad "reduced spaces do not hold exactly the top-K (union) sets"
fi

# --- sampling a reduced space ---------------------------------------------------
"$AB" -q data sample --space S.h5 --n 3125 --seed 2 > r.jsonl || bad "sample the reduced space"
[ "$(sort -u r.jsonl | wc -l)" = 3125 ] && ok || bad "3125 unique architectures: $(sort -u r.jsonl | wc -l)"
[ "$(grep -c '"resolution":224,' r.jsonl)" = 3125 ] && ok || bad "resolution of the reduced space (224)"
# stage 1 takes exactly the 5 best unit-1 subgraphs
want=$(awk '/^unit 1 / { u = 1; next } /^unit / { u = 0 } u && /^ +[0-9]+ / { print $5 }' top3.txt | head -3)
got1=$(sed 's/.*"stages":\[\(\[[^]]*\]\).*/\1/; s/"//g' r.jsonl | sort -u)
[ "$(echo "$got1" | wc -l)" = 5 ] && ok || bad "stage 1 of the sample: $(echo "$got1" | wc -l) distinct"
for s in $want; do s=${s#[}; s=${s%]}; echo "$got1" | grep -qxF "$s" || { bad "top subgraph [$s] not sampled"; break; }; done
"$AB" -q data label --space ofa_mbv3 --archs r.jsonl --out /dev/null && ok || bad "sampled archs are not valid ofa_mbv3 archs"
expect_error "one more than the reduced space" "3125" "$AB" data sample --space S.h5 --n 3126
"$AB" -q reduce --units u.h5 --k 2 --resolution 160,224 --out S32.h5 > /dev/null || bad "reduce --resolution"
"$AB" -q data sample --space S32.h5 --n 64 > r32.jsonl && [ "$(sort -u r32.jsonl | wc -l)" = 64 ] &&
  [ "$(grep -c -e '"resolution":160,' -e '"resolution":224,' r32.jsonl)" = 64 ] && ok || bad "2^5 x 2 resolutions"
expect_error "beyond 2^5 x 2" "64" "$AB" data sample --space S32.h5 --n 65

# --- build ----------------------------------------------------------------------
"$AB" build --units u.h5 --top 10 --scores > b.txt 2> b.err || bad "build: $(cat b.err)"
[ "$(wc -l < b.txt)" = 10 ] && ok || bad "build --top 10: $(wc -l < b.txt) lines"
cut -f1 b.txt | sort -g -r -c 2> /dev/null && ok || bad "build scores not descending: $(cut -f1 b.txt | tr '\n' ' ')"
cut -f2 b.txt > b.jsonl
[ "$(sort -u b.jsonl | wc -l)" = 10 ] && ok || bad "build archs not unique"
"$AB" -q data label --space ofa_mbv3 --archs b.jsonl --out /dev/null && ok || bad "build archs not valid"
"$AB" build --units u.h5 --top 10 | cmp -s - b.jsonl && ok || bad "build without --scores differs"
best=$("$AB" units show u.h5 --top 1 | awk '/^ +1 / { s = $5; gsub(/^\[|\]$/, "", s); gsub(/[a-z0-9_]+/, "\"&\"", s); out = out (n++ ? "," : "") s }
       END { printf "{\"space\":\"ofa_mbv3\",\"resolution\":224,\"stages\":[%s]}", out }')
[ "$(head -1 b.jsonl)" = "$best" ] && ok || bad "build's first arch is not the arg-max per unit: $(head -1 b.jsonl) vs $best"
if [ -n "$H5DUMP" ]; then
  top=$(for u in 1 2 3 4 5; do h5vals u.h5 /unit_$u/score | head -1; done | awk '{ s += $1 } END { printf "%.6f", s }')
  [ "$(head -1 b.txt | cut -f1)" = "$top" ] && ok || bad "first build score $(head -1 b.txt | cut -f1), sum of unit maxima $top"
fi
"$AB" build --units u.h5 --top 5 --resolution 160 | grep -c '"resolution":160,' | grep -qx 5 && ok || bad "build --resolution 160"
"$AB" build --units u.h5 --units u2.h5 --top 5 --scores > b2.txt && [ "$(wc -l < b2.txt)" = 5 ] &&
  cut -f1 b2.txt | sort -g -r -c 2> /dev/null && ok || bad "build with two units files"
if [ -n "$H5DUMP" ]; then
  # with two files a subgraph scores the sum of its two scores: the best
  # architecture takes, per unit, the best such sum
  top=$(for u in 1 2 3 4 5; do
          paste <(h5vals u.h5 /unit_$u/index) <(h5vals u.h5 /unit_$u/score) > a.tsv
          paste <(h5vals u2.h5 /unit_$u/index) <(h5vals u2.h5 /unit_$u/score) > b.tsv
          awk 'NR == FNR { s[$1] = $2; next } { v = s[$1] + $2; if (!n++ || v > m) m = v } END { printf "%.17g\n", m }' a.tsv b.tsv
        done | awk '{ s += $1 } END { printf "%.6f", s }')
  awk -v a="$(head -1 b2.txt | cut -f1)" -v b="$top" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 2e-6 + 1e-12 * (b < 0 ? -b : b)) }' &&
    ok || bad "two units files: first score $(head -1 b2.txt | cut -f1), best summed $top"
fi

# --- macro8: best-first against brute force --------------------------------------
"$AB" -q data sample --space "$DATA/macro8.yaml" --n 400 --seed 5 > m.jsonl || bad "sample macro8"
# synthetic target: weighted block choices by stage and position
awk 'BEGIN { print "arch,t" }
     { s = $0; sub(/.*"stages":\[\[/, "", s); sub(/\]\]\}$/, "", s); n = split(s, st, /\],\[/); t = 0
       for (i = 1; i <= n; i++) { m = split(st[i], L, ","); for (j = 1; j <= m; j++) { b = L[j]; gsub(/"/, "", b)
         w = (b == "id") ? 0 : (b == "ir_3x3_t3") ? 1 : 2.5; t += w * (1 + 0.5 * i) * (1 + 0.2 * j) } }
       q = $0; gsub(/"/, "\"\"", q); printf "\"%s\",%.4f\n", q, t }' m.jsonl > m.csv
"$AB" -q data import --space "$DATA/macro8.yaml" --csv m.csv --out md.h5 || bad "import macro8"
"$AB" -q train --data md.h5 --target t --out pm.h5 --epochs 30 --lr 3e-3 --batch 32 > /dev/null || bad "train macro8"
"$AB" -q label --predictor pm.h5 --out um.h5 || bad "label macro8"
[ "$(rows_per_unit <("$AB" units show um.h5 --top 100))" = "9 27 27" ] && ok || bad "macro8 units"
"$AB" build --units um.h5 --top 50 --scores > mb.txt || bad "build macro8"
"$AB" build --units um.h5 --top 7000 --scores > mall.txt || bad "build macro8 all"
[ "$(wc -l < mall.txt)" = 6561 ] && [ "$(cut -f2 mall.txt | sort -u | wc -l)" = 6561 ] && ok || bad "build --top 7000 on macro8: $(wc -l < mall.txt) lines, expected all 6561 once"
cut -f1 mall.txt | sort -g -r -c 2> /dev/null && ok || bad "macro8 enumeration not descending"
if [ -n "$H5DUMP" ]; then
  for u in 1 2 3; do h5vals um.h5 /unit_$u/score > sc$u.txt; done
  # every combination's summed score, best first
  awk 'FILENAME == "sc1.txt" { a[++na] = $1 } FILENAME == "sc2.txt" { b[++nb] = $1 } FILENAME == "sc3.txt" { c[++nc] = $1 }
       END { for (i = 1; i <= na; i++) for (j = 1; j <= nb; j++) for (k = 1; k <= nc; k++) printf "%.17g\n", a[i] + b[j] + c[k] }' \
    sc1.txt sc2.txt sc3.txt | sort -g -r > brute.txt
  [ "$(wc -l < brute.txt)" = 6561 ] && ok || bad "brute force: $(wc -l < brute.txt) combinations"
  for pair in "mb.txt 50" "mall.txt 6561"; do
    read -r f n <<< "$pair"
    paste <(cut -f1 "$f") <(head -"$n" brute.txt) | awk -v n="$n" '
      { d = $1 - $2; if (d < 0) d = -d; m = $2 < 0 ? -$2 : $2; if (d > 2e-6 + 1e-12 * m) { print "  rank " NR ": build " $1 " brute force " $2; bad++ } }
      END { exit (bad > 0 || NR != n) }' | head -5
    [ "${PIPESTATUS[1]}" = 0 ] && ok || bad "best-first top $n != brute force on macro8"
  done
  echo "  macro8: build top 50 and all 6561 summed scores match brute force (best $(head -1 brute.txt))"
  if [ -n "$PY" ]; then
    # each printed architecture's score is the sum of its units' scores
    $PY - um.h5 mall.txt << 'EOF' && ok || bad "build's scores do not belong to its architectures"
import json, re, subprocess, sys
units, path = [], sys.argv[1]
for u in (1, 2, 3):
    def dump(d):
        subprocess.run(["h5dump", "-d", d, "-m", "%.17g", "-y", "-w", "0", "-o", "x.txt", path],
                       check=True, stdout=subprocess.DEVNULL)
        return open("x.txt").read()
    subs = re.findall(r'"(\[\[.*?\]\])"', dump("/unit_%d/subgraph" % u))
    scores = [float(v) for v in dump("/unit_%d/score" % u).replace(",", " ").split()]
    assert len(subs) == len(scores), (len(subs), len(scores))
    units.append({json.dumps(json.loads(s)[0]): v for s, v in zip(subs, scores)})
bad = 0
for line in open(sys.argv[2]):
    score, arch = line.rstrip("\n").split("\t")
    st = json.loads(arch)["stages"]
    want = sum(units[u][json.dumps(st[u])] for u in range(3))
    if abs(want - float(score)) > 2e-6 + 1e-12 * abs(want):
        bad += 1
        if bad < 4: print("  %s: printed %s, units sum %.9f" % (arch, score, want))
sys.exit(1 if bad else 0)
EOF
  fi
fi

# --- bad input --------------------------------------------------------------------
expect_error "label: archdata as predictor" "autobuild-archdata" "$AB" label --predictor d.h5 --out x.h5
expect_error "label: bad resolution" "--resolution 225" "$AB" label --predictor p.h5 --out x.h5 --resolution 225
expect_error "label: missing --out" "--predictor and --out are required" "$AB" label --predictor p.h5
expect_error "reduce: two spaces" "ofa_pn" "$AB" reduce --units u.h5 --units upn.h5 --k 5 --out x.h5
expect_error "reduce: --k 0" "--k" "$AB" reduce --units u.h5 --k 0 --out x.h5
expect_error "reduce: wrong K count" "one per unit (5 units), got 2" "$AB" reduce --units u.h5 --k 1,2 --out x.h5
expect_error "reduce: bad --select" "--select" "$AB" reduce --units u.h5 --k 5 --select best --out x.h5
expect_error "reduce: predictor as units" "autobuild-units" "$AB" reduce --units p.h5 --k 5 --out x.h5
expect_error "reduce: bad resolution" "--resolution 225" "$AB" reduce --units u.h5 --k 5 --resolution 225 --out x.h5
expect_error "build: predictor as units" "autobuild-units" "$AB" build --units p.h5 --top 3
expect_error "build: two spaces" "ofa_pn" "$AB" build --units u.h5 --units upn.h5 --top 3
expect_error "build: no --top" "--top" "$AB" build --units u.h5
expect_error "build: bad resolution" "--resolution 225" "$AB" build --units u.h5 --top 3 --resolution 225
expect_error "units show: no unit 6" "--unit 6" "$AB" units show u.h5 --unit 6
expect_error "units show: reduced space file" "autobuild-units" "$AB" units show S.h5
expect_error "sample: units file as space" "autobuild-reduced-space" "$AB" data sample --space u.h5 --n 3
expect_error "space info: units file" "autobuild-reduced-space" "$AB" space info u.h5

# --- help ---------------------------------------------------------------------------
for c in "label" "units show" "reduce" "build"; do
  # shellcheck disable=SC2086
  "$AB" $c --help > help.txt 2>&1 && grep -q "^usage: autobuild $c" help.txt && ok || bad "$c --help"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
