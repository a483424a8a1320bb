#!/usr/bin/env bash
# GPU validation on a machine with an NVIDIA GPU: a Release build with CUDA for that GPU's
# architecture, the whole test suite including the CUDA tests (which must run there, not skip),
# the CUDA kernel benchmarks against cuDNN/cuBLAS, and a table to paste into docs/benchmarks.md.
#
#   bash scripts/device_check.sh [extra cmake arguments]
#
# Outputs go to $OUT (or build-gpu/report): ctest.log, bench_cuda.json, bench_cuda.md.
# Without a GPU it stops with one line saying so (the CPU suite is scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc)}"
REPORT="${OUT:-build-gpu/report}"
mkdir -p "$REPORT"

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "device_check: no NVIDIA GPU visible (nvidia-smi -L fails); nothing to check here" >&2
  exit 2
fi
NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
[ -x "$NVCC" ] || { echo "device_check: nvcc not found (install the CUDA Toolkit)" >&2; exit 2; }
# The GPU's compute capability, e.g. 9.0 -> 90 (override with CUDA_ARCH=...).
ARCH="${CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')}"
nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv | tee "$REPORT/gpu.txt"
date -u +%Y-%m-%dT%H:%MZ | tee -a "$REPORT/gpu.txt"
git rev-parse --short HEAD 2>/dev/null | tee -a "$REPORT/gpu.txt" || true

cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DDUEL_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="$ARCH" "$@" 2>&1 | tail -3
cmake --build build-gpu -j"$JOBS" 2>&1 | tee "$REPORT/build.log" | grep -E "error|warning|ptxas" || true

# The CUDA tests must pass here: a skip (exit 77, no device) counts as a failure on a GPU machine.
status=0
(cd build-gpu && ctest --output-on-failure -j"$JOBS" 2>&1) | tee "$REPORT/ctest.log" || status=1
if grep -q "cuda (Skipped)" "$REPORT/ctest.log"; then
  echo "device_check: the CUDA tests were skipped on a GPU machine" >&2
  status=1
fi

if [ -x build-gpu/bench/duel_bench_cuda ]; then
  build-gpu/bench/duel_bench_cuda --benchmark_format=json --benchmark_out="$REPORT/bench_cuda.json" \
    --benchmark_out_format=json >/dev/null || status=1
  python3 bench/cuda_table.py "$REPORT/bench_cuda.json" "$REPORT/gpu.txt" | tee "$REPORT/bench_cuda.md"
else
  echo "device_check: bench/duel_bench_cuda was not built (cuDNN or Google Benchmark missing?)" >&2
  status=1
fi
exit $status
