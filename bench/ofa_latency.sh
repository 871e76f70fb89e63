#!/usr/bin/env bash
# Benchmark of the OFA inference engine (worker/ofa/) against PyTorch CPU:
# batch-1 latency at 224 x 224 of 10 fixed subnets (bench/ofa_subnets_*.jsonl:
# 6 of ofa_mbv3 on ofa_mbv3_d234_e346_k357_w1.2, 4 of ofa_pn on
# ofa_proxyless_d234_e346_k357_w1.3; largest, smallest, uniform, random),
# with 1 and 2 threads. Each measurement is the median of 50 timed passes
# after 10 warm-up passes; the two engines alternate, R rounds, and the table
# reports the median over rounds and the ratio autobuild / PyTorch (< 1:
# autobuild is faster).
#
# PyTorch side: Debian's python3-torch and the once-for-all code (for its
# subnet modules; not part of this repository), via
# tools/dev/ofa_reference.py torch-latency. Latency does not depend on the
# weights; both sides use random ones.
#
# usage: bench/ofa_latency.sh [BUILD_DIR] [R] [OFA_SRC]
set -euo pipefail
B=$(realpath "${1:-build}")
R=${2:-3}
OFA_SRC=${3:-/tmp/ofa_src}
HERE=$(cd "$(dirname "$0")" && pwd)
AB="$B/autobuild"
PY=/usr/bin/python3
REF="$HERE/../tools/dev/ofa_reference.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
[ -x "$AB" ] || { echo "no $AB; build first" >&2; exit 2; }
[ -d "$OFA_SRC/ofa" ] || { echo "no once-for-all code at $OFA_SRC (git archive of mit-han-lab/once-for-all)" >&2; exit 2; }

NETS=("ofa_mbv3_d234_e346_k357_w1.2:$HERE/ofa_subnets_mbv3.jsonl"
      "ofa_proxyless_d234_e346_k357_w1.3:$HERE/ofa_subnets_pn.jsonl")

for round in $(seq 1 "$R"); do
  for th in 1 2; do
    for nf in "${NETS[@]}"; do
      net=${nf%%:*} f=${nf#*:} i=0
      while read -r arch; do
        ms=$(OMP_WAIT_POLICY=active "$AB" -q ofa latency --arch "$arch" --net "$net" \
               --threads "$th" --warmup 10 --runs 50 --json |
             sed 's/.*"median_ms":\([0-9.]*\).*/\1/')
        echo "$net $i $th ours $ms" >> "$T/raw"
        i=$((i + 1))
      done < "$f"
      "$PY" "$REF" --ofa-src "$OFA_SRC" torch-latency --net "$net" --arch "$f" \
          --threads "$th" --warmup 10 --runs 50 |
        awk -v net="$net" -v th="$th" '{
          match($0, /"median_ms":[0-9.e+-]+/); v = substr($0, RSTART + 12, RLENGTH - 12);
          print net, NR - 1, th, "torch", v }' >> "$T/raw"
    done
  done
  echo "round $round of $R done" >&2
done

echo "batch-1 latency at 224, median over $R rounds of the median of 50 passes (ms)"
printf '%-6s %-3s %-34s %8s %8s %7s %8s %8s %7s\n' net "#" "subnet (depths, e/k of block 1)" \
  "ours 1t" "torch 1t" ratio "ours 2t" "torch 2t" ratio
awk '
  { key = $1 " " $2 " " $3 " " $4; n[key]++; v[key, n[key]] = $5; nets[$1 " " $2] = 1 }
  function median(key,   m, i, j, t, a) {
    m = n[key]; for (i = 1; i <= m; i++) a[i] = v[key, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  END {
    for (k in nets) print k
  }' "$T/raw" | sort > "$T/keys"
while read -r net idx; do
  f=$HERE/ofa_subnets_mbv3.jsonl; short=mbv3
  case $net in ofa_proxyless*) f=$HERE/ofa_subnets_pn.jsonl; short=pn ;; esac
  arch=$(sed -n "$((idx + 1))p" "$f")
  desc=$(echo "$arch" | "$PY" -c 'import json,sys; a=json.load(sys.stdin); print("d" + "".join(str(len(s)) for s in a["stages"]) + " " + a["stages"][0][0].split("_",1)[1])')
  row=$(awk -v net="$net" -v idx="$idx" '
    $1 == net && $2 == idx { key = $3 " " $4; n[key]++; v[key, n[key]] = $5 }
    function median(key,   m, i, j, t, a) {
      m = n[key]; for (i = 1; i <= m; i++) a[i] = v[key, i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    END {
      o1 = median("1 ours"); t1 = median("1 torch"); o2 = median("2 ours"); t2 = median("2 torch")
      printf "%8.2f %8.2f %7.2f %8.2f %8.2f %7.2f\n", o1, t1, (o1 / t1), o2, t2, (o2 / t2)
    }' "$T/raw")
  printf '%-6s %-3s %-34s %s\n' "$short" "$idx" "$desc" "$row"
done < "$T/keys"
awk '
  { key = $1 " " $2 " " $3; if ($4 == "ours") o[key] += $5; else t[key] += $5; th[key] = $3 }
  END {
    for (k in o) { r = o[k] / t[k]; split(k, p, " "); s[p[3]] = s[p[3]] " " r }
    for (x in s) { n = split(s[x], a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { q = a[i]; a[i] = a[j]; a[j] = q }
      printf "%s thread(s): median ratio ours/torch over the 10 subnets %.2f (min %.2f, max %.2f)\n", x, ((n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2), a[1], a[n] }
  }' "$T/raw"
