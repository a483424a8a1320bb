#!/usr/bin/env bash
# The main job: sets up, builds the duel program (only it) and trains dcgan28 with the
# non-saturating loss on the installed Fashion-MNIST for one epoch on the CPU (about 940 steps at
# batch 64), writing sample grids, metrics and checkpoints to runs/dcgan28-ns (extra arguments go
# to `duel train`). An existing run there is continued (--resume) instead of overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The CUDA kernels only matter with a GPU: a first build on a machine with nvcc but no GPU
# leaves them out (an existing build/ keeps its configuration; scripts/test.sh builds them).
cuda=()
if [ ! -f build/CMakeCache.txt ] && ! { command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; }; then
  cuda=(-DDUEL_CUDA=OFF)
fi
BUILD_TARGETS=duel bash scripts/build.sh "${cuda[@]}"
OUT="${OUT:-runs/dcgan28-ns}"
if [ -d "$OUT/checkpoint" ]; then
  ./build/duel train --resume --out "$OUT" "$@"
else
  ./build/duel train --model dcgan28 --loss ns --data fashion-mnist --epochs 1 --batch 64 --seed 1 \
    --sample-every 100 --checkpoint-every 200 --out "$OUT" "$@"
fi
echo "samples: $OUT/samples (the last grid: $(ls "$OUT"/samples/*.png | tail -n 1))"
