#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds, and runs
# `autobuild quickstart`: a whole campaign on this machine (400 OFA-MBv3 subnets
# timed on this CPU, predictors, module scores, AutoBuild-NAS vs Stage-Full,
# the report in autobuild-quickstart/report.md; about 2-3 minutes on 2 cores).
# usage: tools/quickstart.sh [quickstart options, e.g. --out DIR --n 600]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
exec build/autobuild quickstart "$@"
