#!/usr/bin/env bash
# Installs the Debian packages autobuild needs, if any is missing.
# usage: tools/deps.sh [--dev] [--test]
#   --dev   adds clang for the fuzz targets
#   --test  adds Debian's PyTorch and SciPy, used by the tests that compare
#           converted pretrained predictors with PyTorch and FID with the scipy
#           route (those tests skip without them; the core never needs Python)
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools
      libopenblas-dev liblapacke-dev libyaml-dev libcunit1-dev libjansson-dev libcsv-dev
      python3-h5py valgrind graphviz gnuplot-nox fonts-dejavu-core)
for a in "$@"; do
  case $a in
    --dev) pkgs+=(clang libclang-rt-14-dev) ;;
    --test) pkgs+=(python3-torch python3-numpy python3-scipy slurm-wlm munge libpmix-dev) ;;
    *) echo "usage: tools/deps.sh [--dev] [--test]" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "autobuild: installing Debian packages: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
