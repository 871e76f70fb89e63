#!/usr/bin/env bash
# `autobuild ofa init|infer|latency|flops|eval` (coordinator/cli/cmd_ofa.c):
# init writes an autobuild-ofa-supernet file; flops prints OFA's exact MACs
# and parameters for known subnets; latency prints a positive median;
# infer runs an input tensor (made with h5import) and writes finite logits,
# the same for any thread count and batch size, with /bn after --calib.
# Bad input: a supernet of the other family, a block outside the space, an
# input of the wrong resolution, a file that is not HDF5, missing options,
# --threads 0: exit 2, one error line, no file left behind, an existing
# output untouched.
# The infer checks are skipped without h5import (apt-get install hdf5-tools).
# usage: test_ofa.sh AUTOBUILD_BINARY TEST_DATA_DIR [MPIEXEC]
set -u
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"
AB=$(realpath "$1")
in_scratch ofa

W10=ofa_mbv3_d234_e346_k357_w1.0
W12=ofa_mbv3_d234_e346_k357_w1.2
PN=ofa_proxyless_d234_e346_k357_w1.3
# arch RES BLOCK DEPTH STAGES: canonical JSON, every layer BLOCK
arch() {
  local st="" s
  for s in $(seq 1 "$4"); do
    local d=$3
    [ "$1" = ofa_pn ] && [ "$s" = 6 ] && d=1
    local layers=""
    for _ in $(seq 1 "$d"); do layers="$layers${layers:+,}\"$5\""; done
    st="$st${st:+,}[$layers]"
  done
  echo "{\"space\":\"$1\",\"resolution\":$2,\"stages\":[$st]}"
}
LARGEST=$(arch ofa_mbv3 224 4 5 mbconv3_e6_k7)
SMALLEST=$(arch ofa_mbv3 128 2 5 mbconv3_e3_k3)
SMALL=$(arch ofa_mbv3 128 2 5 mbconv3_e4_k5)
PN_SMALL=$(arch ofa_pn 128 2 6 mbconv2_e3_k3)
E8=$(arch ofa_mbv3 128 2 5 mbconv3_e8_k3)

# --- help ------------------------------------------------------------------------
for c in init infer latency flops eval; do
  "$AB" ofa $c --help > help.txt 2>&1 && grep -q "^usage: autobuild ofa $c" help.txt && ok || bad "ofa $c --help"
done
rm -f help.txt

# --- init -------------------------------------------------------------------------
"$AB" ofa init --net $W10 --classes 10 --seed 3 --out s.h5 2> init.err && ok || bad "init w1.0: $(cat init.err)"
[ -s s.h5 ] && ok || bad "init wrote no s.h5"
grep -q "$W10" init.err && ok || bad "init does not say what it wrote: $(cat init.err)"
if command -v h5dump > /dev/null; then
  h5dump -a format s.h5 2> /dev/null | grep -q '"autobuild-ofa-supernet"' && ok || bad "s.h5 format attribute"
  h5dump -a net_id s.h5 2> /dev/null | grep -q "\"$W10\"" && ok || bad "s.h5 net_id attribute"
  h5dump -a n_classes s.h5 2> /dev/null | grep -q "(0): 10$" && ok || bad "s.h5 n_classes attribute"
fi
"$AB" ofa init --net $PN --classes 10 --out pn.h5 2> /dev/null && ok || bad "init proxyless"
[ "$(ls -A | sort | tr '\n' ' ')" = "init.err pn.h5 s.h5 " ] && ok || bad "init left other files: $(ls -A)"
rm -f init.err

# --- flops: exact numbers of OFA's counters ---------------------------------------
"$AB" ofa flops --json --arch "$LARGEST" --net $W12 > f.json && ok || bad "flops largest"
[ "$(jget f.json flops)" = 843101040 ] && ok || bad "largest w1.2 at 224: flops $(jget f.json flops), expected 843101040"
[ "$(jget f.json params)" = 10701632 ] && ok || bad "largest w1.2 at 224: params $(jget f.json params), expected 10701632"
"$AB" ofa flops --json --arch "$SMALLEST" --net $W12 > f.json && ok || bad "flops smallest"
[ "$(jget f.json flops)" = 65536896 ] && ok || bad "smallest w1.2 at 128: flops $(jget f.json flops), expected 65536896"
[ "$(jget f.json params)" = 4602456 ] && ok || bad "smallest w1.2 at 128: params $(jget f.json params), expected 4602456"
# the default net of ofa_mbv3 is w1.2; 10 classes remove 990 x 1536 MACs and 990 x 1537 parameters
"$AB" ofa flops --json --arch "$SMALLEST" > d.json && cmp -s d.json f.json && ok || bad "default net is not w1.2"
"$AB" ofa flops --json --arch "$SMALLEST" --classes 10 > c.json || bad "flops --classes 10"
[ "$(jget c.json flops)" = $((65536896 - 990 * 1536)) ] && [ "$(jget c.json params)" = $((4602456 - 990 * 1537)) ] &&
  ok || bad "flops --classes 10: $(cat c.json)"
"$AB" ofa flops --arch "$SMALLEST" --net $W12 | grep -q "^65536896 MACs" && ok || bad "flops text output"
echo "$SMALLEST" > smallest.json
"$AB" ofa flops --json --arch smallest.json > a.json && cmp -s a.json f.json && ok || bad "--arch FILE"
rm -f f.json d.json c.json a.json

# --- latency ----------------------------------------------------------------------
"$AB" ofa latency --json --runs 3 --warmup 1 --arch "$SMALL" --supernet s.h5 --resolution 64 > l.json 2> l.err &&
  ok || bad "latency: $(cat l.err)"
awk -v m="$(jget l.json median_ms)" 'BEGIN { exit !(m > 0) }' && ok || bad "latency median_ms not > 0: $(cat l.json)"
[ "$(jget l.json runs)" = 3 ] && grep -q '"batch":1,"resolution":64,"net":"'$W10'"' l.json && ok || bad "latency JSON fields: $(cat l.json)"
awk -v a="$(jget l.json min_ms)" -v m="$(jget l.json median_ms)" -v b="$(jget l.json max_ms)" \
  'BEGIN { exit !(a > 0 && a <= m && m <= b) }' && ok || bad "latency min <= median <= max: $(cat l.json)"
"$AB" ofa latency --json --runs 2 --warmup 0 --threads 2 --arch "$PN_SMALL" --net $PN --resolution 48 > l.json 2> l.err &&
  ok || bad "latency random PN, 2 threads: $(cat l.err)"
awk -v m="$(jget l.json median_ms)" 'BEGIN { exit !(m > 0) }' && ok || bad "PN latency median_ms: $(cat l.json)"
"$AB" ofa latency --runs 2 --warmup 0 --arch "$SMALL" --supernet s.h5 --resolution 40 2> /dev/null | grep -q "^median .* ms" &&
  ok || bad "latency text output"
rm -f l.json l.err

# --- bad input: one line, exit 2, nothing written ------------------------------------
expect_error "other family (latency)" "supernet pn.h5 is $PN (space ofa_pn)" \
  "$AB" ofa latency --arch "$SMALL" --supernet pn.h5 --runs 1 --warmup 0
expect_error "other family (--net)" "is a supernet of space ofa_pn" "$AB" ofa flops --arch "$SMALL" --net $PN
expect_error "block outside the space" "unknown block 'mbconv3_e8_k3'" "$AB" ofa flops --arch "$E8"
expect_error "block outside the space (latency)" "unknown block 'mbconv3_e8_k3'" \
  "$AB" ofa latency --arch "$E8" --supernet s.h5
echo "not an HDF5 file" > text.h5
expect_error "supernet not HDF5" "text.h5: not an HDF5 file" "$AB" ofa latency --arch "$SMALL" --supernet text.h5
expect_error "supernet missing" "absent.h5" "$AB" ofa latency --arch "$SMALL" --supernet absent.h5
expect_error "supernet is an arch file" "smallest.json" "$AB" ofa latency --arch "$SMALL" --supernet smallest.json
expect_error "init: missing --out" "--net and --out are required" "$AB" ofa init --net $W10
expect_error "init: unknown net" "not an OFA net autobuild knows" "$AB" ofa init --net ofa_resnet --out r.h5
expect_error "init: --classes 0" "--classes" "$AB" ofa init --net $W10 --classes 0 --out r.h5
expect_error "infer: missing options" "--supernet, --arch, --input and --output are required" \
  "$AB" ofa infer --supernet s.h5 --arch "$SMALL"
expect_error "flops: missing --arch" "--arch is required" "$AB" ofa flops --net $W12
expect_error "latency: missing --arch" "--arch is required" "$AB" ofa latency --supernet s.h5
expect_error "eval: missing options" "--supernet, --arch and --data are required" "$AB" ofa eval --supernet s.h5
expect_error "latency --threads 0" "--threads: expected an integer from 1 to 256, got '0'" \
  "$AB" ofa latency --arch "$SMALL" --supernet s.h5 --threads 0
expect_error "latency --supernet and --net" "give --supernet or --net, not both" \
  "$AB" ofa latency --arch "$SMALL" --supernet s.h5 --net $W10
expect_error "arch of another space" "not an OFA space" "$AB" ofa flops --arch '{"space":"sd_unet","stages":[]}'
expect_error "arch not JSON" "expected one architecture as a JSON object" "$AB" ofa flops --arch '{"space":'
"$AB" ofa infer --bogus > /dev/null 2>&1
[ $? = 2 ] && ok || bad "unknown option: exit 2"

# --- infer ---------------------------------------------------------------------------
if command -v h5import > /dev/null && command -v h5dump > /dev/null; then
  # input N R FILE: N x 3 x R x R float32 in [-2, 2) (dataset 'input')
  input() {
    awk -v n=$(($1 * 3 * $2 * $2)) 'BEGIN { srand(7); for (i = 0; i < n; i++) printf "%.5f\n", 4 * rand() - 2 }' > in.txt
    printf 'PATH input\nINPUT-CLASS TEXTFP\nRANK 4\nDIMENSION-SIZES %d 3 %d %d\nOUTPUT-CLASS FP\nOUTPUT-SIZE 32\nOUTPUT-ARCHITECTURE IEEE\nOUTPUT-BYTE-ORDER LE\n' \
      "$1" "$2" "$2" > in.cfg
    h5import in.txt -c in.cfg -o "$3" > /dev/null && rm -f in.txt in.cfg
  }
  # logits FILE: the logits, one value a line
  logits() { h5dump -d logits -m %.8e -y -w 0 "$1" | sed -n '/DATA {/,/}/p' | tr ',' '\n' | grep -E '^ *-?[0-9]' | tr -d ' '; }
  # logits_close A B: same count of values, each within 1e-4 of the larger magnitude (and 1e-6)
  logits_close() {
    paste <(logits "$1") <(logits "$2") | awk '
      NF != 2 { bad = 1 } { d = $1 - $2; if (d < 0) d = -d; s = ($1 < 0 ? -$1 : $1); if (d > 1e-4 * s + 1e-6) bad = 1; n++ }
      END { exit bad || n == 0 }'
  }
  input 3 128 x.h5 && input 2 64 x64.h5 && ok || bad "h5import"
  "$AB" ofa infer --supernet s.h5 --arch "$SMALL" --input x.h5 --output y.h5 2> infer.err && ok || bad "infer: $(cat infer.err)"
  h5dump -a format y.h5 2> /dev/null | grep -q '"autobuild-ofa-logits"' && ok || bad "y.h5 format attribute"
  h5dump -H -d logits y.h5 | grep -q 'SIMPLE { ( 3, 10 ) / ( 3, 10 ) }' && ok || bad "logits shape is not 3 x 10"
  h5dump -a bn_calibrated y.h5 | grep -q "(0): 0$" && ok || bad "bn_calibrated 0"
  h5dump -a arch y.h5 | grep -qF '"mbconv3_e4_k5"' && ok || bad "arch attribute"
  [ "$(logits y.h5 | wc -l)" = 30 ] && ok || bad "30 logits expected, got $(logits y.h5 | wc -l)"
  logits y.h5 | grep -qiE 'nan|inf' && bad "non-finite logits" || ok
  h5dump -n y.h5 | grep -q '/bn' && bad "/bn without --calib" || ok
  # the same logits for 2 threads and batch 1, and again for the same options
  "$AB" ofa infer --supernet s.h5 --arch "$SMALL" --input x.h5 --output y2.h5 --threads 2 --batch 1 2> /dev/null &&
    ok || bad "infer --threads 2 --batch 1"
  logits_close y.h5 y2.h5 && ok || bad "threads 2 / batch 1 changed the logits"
  "$AB" ofa infer --supernet s.h5 --arch "$SMALL" --input x.h5 --output y3.h5 2> /dev/null
  [ "$(logits y.h5)" = "$(logits y3.h5)" ] && ok || bad "infer is not deterministic"
  # re-calibrated BatchNorm: /bn, other logits
  "$AB" ofa infer --supernet s.h5 --arch "$SMALL" --input x.h5 --output yc.h5 --calib x.h5 --calib-batch 2 2> infer.err &&
    ok || bad "infer --calib: $(cat infer.err)"
  h5dump -a bn_calibrated yc.h5 | grep -q "(0): 1$" && ok || bad "bn_calibrated 1"
  h5dump -n yc.h5 | grep -q '/bn/first_conv.bn.running_mean$' && ok || bad "/bn/first_conv.bn.running_mean"
  h5dump -n yc.h5 | grep -q '/bn/final_expand_layer.bn.running_var$' && ok || bad "/bn/final_expand_layer.bn.running_var"
  [ "$(logits y.h5)" != "$(logits yc.h5)" ] && ok || bad "calibration did not change the logits"
  # PN supernet, PN architecture
  "$AB" ofa infer --supernet pn.h5 --arch "$PN_SMALL" --input x.h5 --output yp.h5 2> infer.err && ok || bad "infer PN: $(cat infer.err)"
  [ "$(logits yp.h5 | wc -l)" = 30 ] && ok || bad "PN logits"
  rm -f y2.h5 y3.h5 yc.h5 yp.h5 infer.err

  # bad input; an existing output survives
  cp y.h5 keep.h5
  expect_error "infer: input of another resolution" "the architecture's resolution is 128" \
    "$AB" ofa infer --supernet s.h5 --arch "$SMALL" --input x64.h5 --output keep.h5
  expect_error "infer: other family" "(space ofa_pn)" "$AB" ofa infer --supernet pn.h5 --arch "$SMALL" --input x.h5 --output keep.h5
  expect_error "infer: block outside the space" "unknown block 'mbconv3_e8_k3'" \
    "$AB" ofa infer --supernet s.h5 --arch "$E8" --input x.h5 --output keep.h5
  expect_error "infer: supernet not HDF5" "text.h5: not an HDF5 file" \
    "$AB" ofa infer --supernet text.h5 --arch "$SMALL" --input x.h5 --output keep.h5
  expect_error "infer: input not HDF5" "text.h5: not an HDF5 file" \
    "$AB" ofa infer --supernet s.h5 --arch "$SMALL" --input text.h5 --output keep.h5
  expect_error "infer: input without 'input'" "no dataset 'input'" \
    "$AB" ofa infer --supernet s.h5 --arch "$SMALL" --input s.h5 --output keep.h5
  expect_error "infer: --threads 0" "--threads: expected an integer from 1 to 256, got '0'" \
    "$AB" ofa infer --supernet s.h5 --arch "$SMALL" --input x.h5 --output keep.h5 --threads 0
  expect_error "infer: calibration input of another resolution" "the architecture's resolution is 128" \
    "$AB" ofa infer --supernet s.h5 --arch "$SMALL" --input x.h5 --output keep.h5 --calib x64.h5
  expect_error "infer: --calib-images beyond the file" "--calib-images 5: x.h5 has 3 images" \
    "$AB" ofa infer --supernet s.h5 --arch "$SMALL" --input x.h5 --output keep.h5 --calib x.h5 --calib-images 5
  expect_error "eval: data not an image set" "autobuild-imageset" \
    "$AB" ofa eval --supernet s.h5 --arch "$SMALL" --data x.h5
  cmp -s y.h5 keep.h5 && ok || bad "a failed infer changed an existing output"
  "$AB" -q ofa infer --supernet s.h5 --arch "$SMALL" --input x.h5 --output no/dir/y.h5 > /dev/null 2> err.txt
  [ $? -ne 0 ] && [ "$(wc -l < err.txt)" = 1 ] && [ ! -e no ] && ok || bad "infer into a missing folder: $(cat err.txt)"
  left=$(find . -name '*.tmp*')
  [ -z "$left" ] && ok || bad "temporary files left: $left"
else
  echo "SKIPPED: the infer checks ('h5import' / 'h5dump' are not installed: apt-get install hdf5-tools)"
fi

echo "ofa: $pass passed, $fail failed"
[ $fail = 0 ]
