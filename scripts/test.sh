#!/usr/bin/env bash
# Sets up, builds everything (the program, every test, benchmarks, the CUDA kernels when nvcc is
# found) and runs every test: the Catch2 suites (ops, autograd, kernels, golden files,
# safetensors, CLI), the PyTorch cross-check of `duel op`, the crash-safety checks, and the CUDA
# tests (reported as skipped, not passed, on a machine without a GPU); then the whole suite again
# with the emulated CUDA device visible (DUEL_CUDA_EMULATE=1: tests must hold with and without a
# device), the standard-include check and a clang + libc++ compile of the tree (portability to
# newer compilers), the configure step of the GPU machine's source route
# (scripts/device_rehearsal.sh), duel as an installed library: examples/ built against it from
# outside the tree (scripts/check_install.sh), and last the sanitizer build and the fuzzers
# (scripts/sanitize.sh; SANITIZE=0 skips them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
python3 scripts/check_std_includes.py
bash scripts/build.sh -DDUEL_CUDA="${DUEL_CUDA:-AUTO}"
(cd build && ctest --output-on-failure -j"${JOBS:-2}")
echo "test: the whole suite again with the emulated CUDA device visible"
# (The crash-safety checks are CPU-only processes killed and starved of disk: once is enough.)
(cd build && DUEL_CUDA_EMULATE=1 ctest --output-on-failure -j"${JOBS:-2}" -E '^crash\.')
bash scripts/check_install.sh
bash scripts/check_libcxx.sh
bash scripts/device_rehearsal.sh --configure-only
if [ "${SANITIZE:-1}" != 0 ]; then
  bash scripts/sanitize.sh
fi
