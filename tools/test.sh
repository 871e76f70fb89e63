#!/usr/bin/env bash
# The README's test command: installs what is missing, then builds and runs
# every test (CUnit suites, MPI integration tests under mpirun with 1, 2 and
# 4 ranks, CLI acceptance tests) twice: in the release build and in the
# ASan+UBSan build.
# usage: tools/test.sh [--release-only]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh --test
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own start-up allocations are not ours to fix.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
jobs=$(nproc)
echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$jobs" > /dev/null
(cd build && ctest --output-on-failure -j"$jobs")
if [ "${1:-}" != "--release-only" ]; then
  echo "== ASan+UBSan build"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAB_SANITIZE=ON > /dev/null
  cmake --build build-asan -j"$jobs" > /dev/null
  (cd build-asan && ctest --output-on-failure -j"$jobs")
fi
