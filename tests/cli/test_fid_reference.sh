#!/usr/bin/env bash
# `autobuild fid` against the independent scipy route of pytorch-fid
# (tools/dev/fid_reference.py: np.cov, scipy.linalg.sqrtm) on synthetic
# 2000 x 256 features with a low-rank-plus-diagonal covariance: the FIDs of
# two feature files, of features against `fid stats` statistics, and of two
# identical sets agree within 1e-6 relative (1e-9 absolute for 0).
# SKIPPED (exit 0) when Debian's /usr/bin/python3 cannot import numpy, scipy
# and h5py (apt-get install python3-numpy python3-scipy python3-h5py): CI
# does not need Python.
# usage: test_fid_reference.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
REF=$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../../tools/dev/fid_reference.py
PY=/usr/bin/python3
if ! "$PY" -c "import numpy, scipy.linalg, h5py" > /dev/null 2>&1; then
  echo "SKIPPED: $PY cannot import numpy, scipy and h5py (apt-get install python3-numpy" \
       "python3-scipy python3-h5py)"
  exit 0
fi
in_scratch fid_ref

"$PY" "$REF" make --out A.h5 --n 2000 --d 256 --rank 64 --structure 1 --seed 1 || bad "make A"
"$PY" "$REF" make --out B.h5 --n 2000 --d 256 --rank 64 --structure 1 --seed 2 --perturb 0.1 ||
  bad "make B"
"$PY" "$REF" make --out C.h5 --n 1500 --d 256 --rank 64 --structure 7 --seed 3 || bad "make C"
"$AB" fid stats B.h5 --out REFB.h5 2> /dev/null || bad "fid stats B"

# compare NAME A B: our FID and the reference's within 1e-6 relative
compare() {
  local name=$1 ours ref
  "$AB" fid --a "$2" --b "$3" --json > ours.json 2> ours.err ||
    { bad "$name: $(cat ours.err)"; return; }
  "$PY" "$REF" fid "$2" "$3" > ref.json || { bad "$name: reference failed"; return; }
  ours=$(jget ours.json fid)
  ref=$(sed -n 's/.*"fid": *\([-0-9.eE+]*\).*/\1/p' ref.json)
  if awk -v a="$ours" -v b="$ref" -v n="$name" 'BEGIN {
       d = a - b; if (d < 0) d = -d; m = (b < 0 ? -b : b)
       printf "  %-26s autobuild %.15g  scipy %.15g  rel %.1e\n", n, a, b,
              (m > 0 ? d / m : d) > "/dev/stderr"
       exit !(d <= 1e-6 * m || d <= 1e-9) }'; then ok; else bad "$name: $ours vs $ref"; fi
}
compare "A vs B (features)" A.h5 B.h5
compare "B vs A" B.h5 A.h5
compare "A vs C (other structure)" A.h5 C.h5
compare "A vs statistics of B" A.h5 REFB.h5
compare "A vs A" A.h5 A.h5

echo "fid_reference: $pass passed, $fail failed"
[ $fail -eq 0 ]
