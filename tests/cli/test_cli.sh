#!/usr/bin/env bash
# CLI acceptance tests of the foundation: sizes printed by `space info`,
# deterministic sampling, exact import/export round trips, and every kind of
# bad input giving one error line, exit status 2 and no file left behind.
# usage: test_cli.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
DATA=$(realpath "$2")
MPIEXEC=${3:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=$(mktemp -d /tmp/ab_cli_XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1


# --- space info ---------------------------------------------------------------
"$AB" space info ofa_mbv3 > info.txt || bad "space info ofa_mbv3"
grep -q "unit 5 = stage 5: 7371 subgraphs" info.txt && ok || bad "mbv3 unit count"
grep -q "7371^5 = 21758655492572485851" info.txt && ok || bad "mbv3 size"
"$AB" space info ofa_pn > info.txt || bad "space info ofa_pn"
grep -q "unit 5 = stages 5-6: 66339 subgraphs" info.txt && ok || bad "pn merged unit"
"$AB" space info "$DATA/macro8.yaml" > info.txt || bad "space info macro8"
grep -q "unit 1 = stage 1: 9 subgraphs" info.txt && grep -q "unit 3 = stage 3: 27 subgraphs" info.txt &&
  grep -q "9 x 27^2 = 6561 " info.txt && ok || bad "macro8 sizes: $(cat info.txt)"
"$AB" space info ofa_mbv3 --json | grep -q '"architectures":"21758655492572485851"' && ok || bad "space info --json"
[ "$("$AB" space subgraphs ofa_mbv3 --unit 1 | wc -l)" = 7371 ] && ok || bad "enumerate 7371"
[ "$("$AB" space subgraphs "$DATA/macro8.yaml" --unit 2 | sort -u | wc -l)" = 27 ] && ok || bad "enumerate 27"

# --- sampling -------------------------------------------------------------------
"$AB" data sample --space ofa_mbv3 --n 3000 --seed 1 > s1.jsonl || bad "sample"
"$AB" data sample --space ofa_mbv3 --n 3000 --seed 1 > s2.jsonl || bad "sample again"
"$AB" data sample --space ofa_mbv3 --n 3000 --seed 2 > s3.jsonl || bad "sample seed 2"
[ "$(wc -l < s1.jsonl)" = 3000 ] && ok || bad "3000 lines"
[ "$(sort -u s1.jsonl | wc -l)" = 3000 ] && ok || bad "3000 unique"
cmp -s s1.jsonl s2.jsonl && ok || bad "same seed, same output"
cmp -s s1.jsonl s3.jsonl && bad "different seeds gave the same output" || ok
"$AB" data sample --space "$DATA/macro8.yaml" --n 6561 --seed 3 | sort -u | wc -l | grep -qx 6561 && ok || bad "whole macro8 space"
rm -f s2.jsonl s3.jsonl

# --- label, import, export, info -----------------------------------------------
"$AB" data label --space ofa_mbv3 --archs s1.jsonl --out l.csv || bad "label"
"$AB" data import --space ofa_mbv3 --csv l.csv --out d.h5 2> import.log || bad "import: $(cat import.log)"
"$AB" data export --in d.h5 --csv e.csv || bad "export"
cmp -s l.csv e.csv && ok || bad "CSV round trip"
"$AB" data import --space ofa_mbv3 --csv e.csv --out d2.h5 2> /dev/null || bad "re-import"
"$AB" data export --in d2.h5 --csv e2.csv && cmp -s e.csv e2.csv && ok || bad "second round trip"
"$AB" data info d.h5 --json --target 'macs/params' | grep -q '"n":3000' && ok || bad "info --json"
"$AB" data info d.h5 --target 'np.power(100, macs/1e9)/(np.log10(params+1)+1)' > /dev/null && ok || bad "authors' equation"
rm -f d2.h5 e2.csv

# --- bad input -------------------------------------------------------------------
head -3 l.csv | sed '1s/^arch,/archx,/' > noarch.csv
expect_error "missing arch column" "no column named 'arch'" "$AB" data import --space ofa_mbv3 --csv noarch.csv --out x.h5
head -2 l.csv | sed '2s/\[""mbconv3_\([a-z0-9_]*\)""/[""mbconv3_\1"",""mbconv3_e3_k3"",""mbconv3_e3_k3"",""mbconv3_e3_k3""/' > five.csv
grep -q 'mbconv3_e3_k3"",""mbconv3_e3_k3"",""mbconv3_e3_k3""' five.csv || bad "five.csv construction"
expect_error "5 layers in a stage" "layers; space 'ofa_mbv3' allows 2 to 4" "$AB" data import --space ofa_mbv3 --csv five.csv --out x.h5
head -2 l.csv | sed '2s/mbconv3_e4/mbconv3_e8/; 2s/mbconv3_e3/mbconv3_e8/; 2s/mbconv3_e6/mbconv3_e8/' > unknown.csv
expect_error "unknown block string" "unknown block 'mbconv3_e8" "$AB" data import --space ofa_mbv3 --csv unknown.csv --out x.h5
head -2 l.csv | sed -E '2s/""resolution"":[0-9]+/""resolution"":225/' > res.csv
expect_error "resolution 225" "resolution 225 is not allowed" "$AB" data import --space ofa_mbv3 --csv res.csv --out x.h5
printf 'space:\n  name: bad\n  stages:\n    - {min_layers: 3, max_layers: 2, choices: [a]}\n' > minmax.yaml
expect_error "max_layers < min_layers" "max_layers (2) is below min_layers (3)" "$AB" space info minmax.yaml
printf 'space:\n  name: dup\n  stages:\n    - {min_layers: 1, max_layers: 2, choices: [a]}\n  stages: []\n' > dup.yaml
expect_error "duplicated YAML key" "duplicated key 'stages'" "$AB" space info dup.yaml
expect_error "equation acc**" "column" "$AB" data info d.h5 --target 'macs**'
expect_error "equation foo+1" "foo" "$AB" data info d.h5 --target 'foo+1'
head -3 l.csv | sed -E '3s/,[0-9]+,/,nan,/' > nan.csv
expect_error "NaN metric" "row 2 (line 3), column 'macs': NaN is not allowed" "$AB" data import --space ofa_mbv3 --csv nan.csv --out x.h5
head -c 20000 d.h5 > trunc.h5
expect_error "truncated HDF5" "trunc.h5" "$AB" data info trunc.h5
expect_error "not HDF5" "not an HDF5 file" "$AB" data info l.csv
if command -v h5import > /dev/null || /usr/bin/python3 -c 'import h5py' 2> /dev/null; then
  /usr/bin/python3 -c 'import h5py; f=h5py.File("other.h5","w"); f["x"]=[1,2,3]; f.attrs["format"]="something-else"; f.attrs["format_version"]=1' &&
    expect_error "HDF5 of another kind" "not a 'autobuild-archdata' file" "$AB" data info other.h5
fi
expect_error "label equation NaN row" "row 1 gives -inf" "$AB" data info d.h5 --target 'log(macs - macs)'
expect_error "unknown space" "unknown space 'ofa_resnet'" "$AB" data sample --space ofa_resnet --n 3
expect_error "unknown command" "unknown command 'frobnicate'" "$AB" frobnicate
expect_error "missing option" "--space and --n are required" "$AB" data sample --n 3
expect_error "too many" "holds only 6561" "$AB" data sample --space "$DATA/macro8.yaml" --n 7000
# an existing output survives a failed import over it
cp d.h5 keep.h5
"$AB" data import --space ofa_mbv3 --csv nan.csv --out keep.h5 2> /dev/null
cmp -s d.h5 keep.h5 && ok || bad "failed import damaged an existing file"

# --- help ------------------------------------------------------------------------
for c in "space info" "space subgraphs" "data sample" "data label" "data import" "data export" "data info" "quickstart" "campaign"; do
  # shellcheck disable=SC2086
  "$AB" $c --help | grep -q "^usage: autobuild $c" && ok || bad "$c --help"
done
"$AB" --help | grep -q "commands:" && ok || bad "--help"

# --- under MPI: serial commands run once, on rank 0 -----------------------------
if command -v "$MPIEXEC" > /dev/null; then
  # (Open MPI's plugins leak at start-up; see tests/CMakeLists.txt)
  export ASAN_OPTIONS=detect_leaks=0
  "$MPIEXEC" --oversubscribe -np 2 "$AB" data sample --space ofa_pn --n 10 --seed 4 > mpi.jsonl 2> mpi.err
  [ $? -eq 0 ] && [ "$(wc -l < mpi.jsonl)" = 10 ] && ok || bad "mpirun -np 2 data sample: $(cat mpi.err)"
  "$AB" data sample --space ofa_pn --n 10 --seed 4 | cmp -s - mpi.jsonl && ok || bad "same result under MPI"
  "$MPIEXEC" --oversubscribe -np 2 "$AB" data info trunc.h5 > /dev/null 2> mpi.err
  [ $? -ne 0 ] && ok || bad "error exit under MPI"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
