#!/usr/bin/env bash
# Sets up, builds everything (the program, every test, benchmarks, the CUDA kernels when nvcc is
# found) and runs every test: the Catch2 suites (ops, autograd, kernels, golden files,
# safetensors, CLI), the PyTorch cross-check of `duel op`, the crash-safety checks, the CUDA
# tests (reported as skipped, not passed, on a machine without a GPU), then the sanitizer build
# and the fuzzers (scripts/sanitize.sh; SANITIZE=0 skips them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh -DDUEL_CUDA="${DUEL_CUDA:-AUTO}"
(cd build && ctest --output-on-failure -j"${JOBS:-2}")
if [ "${SANITIZE:-1}" != 0 ]; then
  bash scripts/sanitize.sh
fi
