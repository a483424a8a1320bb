#!/usr/bin/env bash
# Sets up, builds and runs every test: the Catch2 suites (ops, autograd, kernels, golden files,
# safetensors, CLI), the PyTorch cross-check of `duel op`, and the CUDA tests (reported as
# skipped, not passed, on a machine without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest --output-on-failure -j"${JOBS:-2}"
