#!/usr/bin/env bash
# Configures and builds duel into build/ (Release; CUDA when nvcc is found). Extra arguments go
# to cmake's configure step, e.g. scripts/build.sh -DDUEL_CUDA=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-2}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$JOBS"
