#!/usr/bin/env bash
# `autobuild quickstart` (the README's main job), small: 60 subnets timed
# with the engine, 40 evaluations per search. It finishes, writes the
# report with every picture (real PNGs) and the AutoBuild-NAS and Stage-Full
# rows, prints the latency insights; ref: auto is the worst labelled value
# (both searches use it); a rerun skips every stage; under
# mpirun the same folder is continued by workers; bad options are one line,
# exit 2, nothing written.
# usage: test_quickstart.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
MPIEXEC=${3:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=detect_leaks=0
in_scratch quickstart

png() { [ "$(head -c 8 "$1" 2> /dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }

"$AB" quickstart --out q --n 60 --budget 40 > q1.out 2> q1.err
rc=$?
[ $rc = 0 ] && ok || bad "quickstart: exit $rc: $(grep -v INFO q1.err | tail -3)"
grep -q '^What drives latency on this CPU' q1.out && grep -q '^- \*\*kernel\*\*: k[357]' q1.out && ok ||
  bad "quickstart: no latency insights printed: $(tail -12 q1.out)"
[ -s q/report.md ] && grep -q '^| AutoBuild-NAS | `search.h5` | 40 |' q/report.md &&
  grep -q '^| Stage-Full | `baseline-stage_full.h5` | 40 |' q/report.md && ok ||
  bad "report.md: $(grep '^|' q/report.md 2> /dev/null | tail -3)"
n=0
for f in front fronts importance_latency importance_efficiency hops_latency hops_efficiency \
  best_arch_hop0 best_arch_hop4; do
  if png "q/$f.png" && grep -q "$f.png" q/report.md q/stamps/report.json; then n=$((n + 1)); else bad "q/$f.png missing, not a PNG, or not in the report"; fi
done
[ $n = 8 ] && ok
# every labelled subnet has a measured latency and exact MACs
"$AB" data info q/data.h5 > info.txt 2>&1
grep -q "60 architectures" info.txt && grep -q "latency_ms" info.txt && grep -q "flops" info.txt && ok ||
  bad "data.h5: $(head -5 info.txt)"

# ref: auto is the worst labelled value: the largest latency, the smallest MAC count
"$AB" data export --in q/data.h5 --csv - 2> /dev/null | sed 1d |
  awk -F, 'NR == 1 || $(NF - 2) > l { l = $(NF - 2) } NR == 1 || $(NF - 1) < f { f = $(NF - 1) }
           END { printf "%.17g %.17g\n", l, f }' > worst.txt
lref=$(sed -n 's/.*"metric": "latency_ms", "goal": "min", "ref": \([-0-9.eE+]*\)}.*/\1/p' q/search.yaml)
fref=$(sed -n 's/.*"metric": "flops", "goal": "max", "ref": \([-0-9.eE+]*\)}.*/\1/p' q/search.yaml)
read -r lmax fmin < worst.txt
awk -v a="$lref" -v b="$lmax" -v c="$fref" -v d="$fmin" \
  'BEGIN { exit !(a != "" && c != "" && (a - b) ^ 2 <= (1e-12 * b) ^ 2 && c == d) }' && ok ||
  bad "ref: auto: search.yaml has latency_ms $lref, flops $fref; data worst $lmax, $fmin"
grep -q "$lref" q/baseline-stage_full.yaml && ok || bad "the baseline does not use the same references"

# a rerun continues: nothing is measured again
"$AB" quickstart --out q --n 60 --budget 40 > q2.out 2> q2.err
[ $? = 0 ] && [ "$(grep -c 'skipped (complete' q2.err)" -ge 8 ] && ! grep -q 'labelled, .*ETA' q2.err && ok ||
  bad "rerun: $(grep campaign q2.err | head -12)"

# under mpirun: a larger budget (47 = 22 + 5 x 5, spent exactly) continues the
# same folder with worker ranks
if command -v "$MPIEXEC" > /dev/null; then
  timeout 300 "$MPIEXEC" --oversubscribe -np 3 "$AB" quickstart --out q --n 60 --budget 47 --json > q3.out 2> q3.err
  rc=$?
  [ $rc = 0 ] && [ "$(jget q3.out evaluations)" = 47 ] && grep -q 'data: skipped (complete' q3.err &&
    grep -q '2 evaluating processes' q3.err && ok ||
    bad "mpirun quickstart: exit $rc $(tail -1 q3.out) $(grep -v INFO q3.err | tail -3)"
fi

# bad options: one line, exit 2, nothing written
expect_error "unknown space" "--space must be ofa_mbv3 or ofa_pn, not 'sd_unet'" "$AB" quickstart --space sd_unet --out z
expect_error "small budget" "--budget" "$AB" quickstart --budget 10 --out z
expect_error "stray argument" "unexpected argument 'extra'" "$AB" quickstart --out z extra
# ref: auto belongs to campaigns
printf 'search:\n  space: ofa_mbv3\n  objectives:\n    - {metric: acc, goal: max, ref: auto}\nevaluators: [{type: synthetic, metrics: [acc]}]\nstore: s.h5\n' > s.yaml
expect_error "ref auto in a search" "s.yaml: line 4: search.objectives[1].ref: 'auto' is for campaigns" "$AB" search --config s.yaml

echo "test_quickstart: $pass passed, $fail failed"
[ $fail = 0 ]
