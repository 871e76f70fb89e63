#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds, and runs
# `autobuild quickstart` on the embedded default (3000 OFA-MBv3 architectures
# sampled, labelled with exact MACs/parameters, imported, summarised).
# usage: tools/quickstart.sh [quickstart options, e.g. --out DIR --n 5000]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
exec build/autobuild quickstart "$@"
