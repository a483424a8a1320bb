#!/usr/bin/env bash
# The main job: sets up, builds and runs `duel demo` (ops, the WGAN-GP penalty's double backward
# checked against finite differences, gradient checks of the whole op table).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/duel demo
