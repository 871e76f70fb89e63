#!/usr/bin/env bash
# `autobuild fid` and `autobuild fid stats` (worker/fid/fid.c): FID of two
# features files, of features against statistics written by `fid stats`
# (the same number, exactly), FID(A, A) = 0, symmetry, the same value with
# 2 threads and with --method eigen, --json's last line, the -v timing
# lines; bad input exits 2 with one line naming the file and leaves no file
# behind: a missing file, a result file with neither features nor
# statistics, features of the wrong width, a non-symmetric sigma, one
# feature row, mu without sigma, missing options. An unwritable --out
# exits 1 and leaves nothing.
# The HDF5 inputs are made with h5import (Debian's hdf5-tools, which
# tools/deps.sh installs), so the test needs no Python.
# usage: test_fid.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
if ! command -v h5import > /dev/null 2>&1; then
  echo "SKIPPED: h5import is not installed (apt-get install hdf5-tools)"
  exit 0
fi
in_scratch fid

# text ROWS COLS SEED [SCALE]: deterministic pseudo-random numbers, one row
# per line; column j has mean j/2 and a shared factor, so the covariance is
# not diagonal.
text() {
  awk -v n="$1" -v d="$2" -v seed="$3" -v s="${4:-1}" 'BEGIN {
    srand(seed)
    for (i = 0; i < n; i++) {
      z = rand() - 0.5
      for (j = 0; j < d; j++) printf "%.7f ", s * (j / 2 + z * (j % 3) + rand())
      printf "\n"
    }
  }'
}
# h5 OUT NAME DIMS... < TEXT: writes (or adds) dataset NAME (float32 for
# 'features', else float64) of the given shape to OUT with h5import.
h5() {
  local out=$1 name=$2 size=32
  shift 2
  [ "$name" = features ] || size=64
  cat > in.txt
  cat > in.cfg <<EOF
PATH $name
INPUT-CLASS TEXTFP
RANK $#
DIMENSION-SIZES $*
OUTPUT-CLASS FP
OUTPUT-SIZE $size
OUTPUT-ARCHITECTURE IEEE
OUTPUT-BYTE-ORDER LE
EOF
  h5import in.txt -c in.cfg -o "$out" > /dev/null || bad "h5import $out $name"
  rm -f in.txt in.cfg
}
num() { # FILE: the "fid" of FILE's last line
  jget "$1" fid
}
close() { # A B REL: |A - B| <= REL * max(|A|, |B|) (+ 1e-300)
  awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN {
    d = a - b; if (d < 0) d = -d; m = (a < 0 ? -a : a); if ((b < 0 ? -b : b) > m) m = (b < 0 ? -b : b)
    exit !(d <= r * m + 1e-300)
  }'
}

text 60 8 1 | h5 A.h5 features 60 8
text 50 8 2 1.3 | h5 B.h5 features 50 8
text 40 9 3 | h5 W.h5 features 40 9
text 1 8 4 | h5 ONE.h5 features 1 8
echo "12.5" | h5 RESULT.h5 fid 1
text 1 8 5 | h5 NONSYM.h5 mu 8
text 8 8 6 | h5 NONSYM.h5 sigma 8 8
text 1 8 5 | h5 MUONLY.h5 mu 8
echo "not an HDF5 file" > TEXT.h5

# help teaches the formula and the layouts
"$AB" fid --help > help.txt && ok || bad "fid --help exit"
grep -q "tr((S_a S_b)^(1/2))" help.txt && grep -q "'features', N x D" help.txt && ok ||
  bad "fid --help lacks the formula or the layout"
"$AB" fid stats --help | grep -q "unbiased covariance" && ok || bad "fid stats --help"
"$AB" --help | grep -q "^  fid stats " && ok || bad "fid stats not in autobuild --help"

# features vs features
if "$AB" fid --a A.h5 --b B.h5 > text.out 2> text.err; then ok; else bad "fid A B: $(cat text.err)"; fi
grep -q "^FID [0-9]" text.out && grep -q "A: 60 features, B: 50 features" text.out && ok ||
  bad "fid text output: $(cat text.out)"
"$AB" fid --a A.h5 --b B.h5 --json > ab.json || bad "fid --json"
fab=$(num ab.json)
if [ -z "$fab" ] || close "$fab" 0 0; then bad "FID(A, B) is '$fab'"; else ok; fi
[ "$(jget ab.json dims)" = 8 ] && [ "$(jget ab.json n_a)" = 60 ] && [ "$(jget ab.json n_b)" = 50 ] &&
  ok || bad "fid --json fields: $(cat ab.json)"
[ -n "$(jget ab.json seconds)" ] && ok || bad "fid --json has no seconds"

# statistics: written atomically, read back to the same FID exactly
"$AB" fid stats B.h5 --out REFB.h5 2> stats.err && ok || bad "fid stats: $(cat stats.err)"
grep -q "wrote REFB.h5: statistics (mu, sigma) of 50 x 8 features" stats.err && ok ||
  bad "fid stats log: $(cat stats.err)"
h5dump -a format REFB.h5 | grep -q '"autobuild-fid-stats"' && ok || bad "REFB.h5 format attribute"
ls -A | grep -q '^\.REFB' && bad "fid stats left a temporary file" || ok
"$AB" fid --a A.h5 --b REFB.h5 --json > aref.json || bad "fid A REFB"
[ "$(num aref.json)" = "$fab" ] && ok || bad "FID against statistics $(num aref.json) != $fab"
[ "$(jget aref.json n_b)" = 50 ] && ok || bad "n_b of a statistics file: $(cat aref.json)"
"$AB" fid --a A.h5 --b A.h5 --json > aa.json || bad "fid A A"
awk -v f="$(num aa.json)" 'BEGIN { exit !(f != "" && f < 1e-9 && f > -1e-9) }' && ok ||
  bad "FID(A, A) = $(num aa.json)"
"$AB" fid --a B.h5 --b A.h5 --json > ba.json || bad "fid B A"
close "$(num ba.json)" "$fab" 1e-10 && ok || bad "FID(B, A) $(num ba.json) != FID(A, B) $fab"
"$AB" fid --a A.h5 --b B.h5 --json --threads 2 > t2.json || bad "fid --threads 2"
close "$(num t2.json)" "$fab" 1e-10 && ok || bad "2 threads: $(num t2.json) != $fab"
"$AB" fid --a A.h5 --b B.h5 --json --method eigen > eig.json || bad "fid --method eigen"
close "$(num eig.json)" "$fab" 1e-10 && ok || bad "eigen route: $(num eig.json) != $fab"
"$AB" fid stats REFB.h5 --out REFB2.h5 2> /dev/null && "$AB" fid --a A.h5 --b REFB2.h5 --json > ref2.json &&
  [ "$(num ref2.json)" = "$fab" ] && ok || bad "statistics copied by fid stats"
"$AB" -v fid --a A.h5 --b B.h5 > /dev/null 2> v.err || bad "fid -v"
grep -q "covariance of 60 x 8: centring .* 1 dsyrk call" v.err && grep -q "GFLOP/s" v.err &&
  grep -q "Cholesky route" v.err && ok || bad "fid -v timing lines: $(cat v.err)"

# bad input: exit 2, one line naming the file, no file left behind
expect_error "missing file" "NOPE.h5: no such file" "$AB" fid --a A.h5 --b NOPE.h5
expect_error "not HDF5" "TEXT.h5: not an HDF5 file" "$AB" fid --a TEXT.h5 --b B.h5
expect_error "result without features or mu" "RESULT.h5: neither features nor statistics" \
  "$AB" fid --a A.h5 --b RESULT.h5
expect_error "wrong width" "A.h5 has 8 features per row but W.h5 has 9" "$AB" fid --a A.h5 --b W.h5
expect_error "wrong width vs statistics" "W.h5 has 9 features per row but REFB.h5 has 8" \
  "$AB" fid --a W.h5 --b REFB.h5
expect_error "non-symmetric sigma" "NONSYM.h5: sigma is not symmetric" \
  "$AB" fid --a A.h5 --b NONSYM.h5
expect_error "mu without sigma" "MUONLY.h5: has 'mu' but no 'sigma'" "$AB" fid --a MUONLY.h5 --b A.h5
expect_error "one feature row" "ONE.h5: 'features' has 1 row; FID needs 2" \
  "$AB" fid --a A.h5 --b ONE.h5
expect_error "stats of one row" "ONE.h5: 'features' has 1 row" "$AB" fid stats ONE.h5 --out X.h5
expect_error "stats of a non-symmetric sigma" "sigma is not symmetric" \
  "$AB" fid stats NONSYM.h5 --out X.h5
expect_error "missing --b" "--a and --b are required" "$AB" fid --a A.h5
expect_error "stray argument" "did you mean 'fid stats'" "$AB" fid --a A.h5 --b B.h5 extra
expect_error "stats without --out" "expected one features file and --out" "$AB" fid stats A.h5
expect_error "bad threads" "--threads: expected an integer from 1 to 256" \
  "$AB" fid --a A.h5 --b B.h5 --threads 0
expect_error "bad method" "--method: expected auto or eigen" "$AB" fid --a A.h5 --b B.h5 --method x

# an unwritable destination: exit 1, nothing written
"$AB" fid stats A.h5 --out /nonexistent-dir/REF.h5 > /dev/null 2> err.txt
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l < err.txt)" -eq 1 ] && ok || bad "unwritable --out: exit $rc, $(cat err.txt)"

echo "fid: $pass passed, $fail failed"
[ $fail -eq 0 ]
