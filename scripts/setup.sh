#!/usr/bin/env bash
# Installs everything duel needs from Debian packages. Idempotent: installs only what is missing.
#
#   build:      g++, cmake, Eigen 3, OpenMP (libgomp, with g++), nlohmann-json, zlib, stb (writing
#               pictures), libpng and libjpeg-turbo (reading pictures from users)
#   tests:      Catch2 (v2), Google Benchmark; util-linux's unshare (the full-disk test's tmpfs)
#   references: python3-torch (+ OpenBLAS, numpy) for the scripts that write golden files and
#               cross-check duel against PyTorch
#   data:       dataset-fashion-mnist (the default training data)
#   pictures:   graphviz (renders `duel graph` output and the studio's graph)
#   studio:     cpp-httplib (duel studio's web server)
# With --tests, also what only the test command needs:
#   clang-16 with libc++ (scripts/check_libcxx.sh: the tree compiled against a strict standard
#   library), ninja (compact builds); clang 14 with its sanitizer and libFuzzer runtimes
#   (scripts/sanitize.sh: the suite under ASan + UBSan, the fuzzers); chromium and
#   python3-websocket (the headless-browser test that drives duel studio's page over the
#   DevTools protocol)
# The CUDA toolkit (nvcc, cuBLAS, cuDNN) is not a Debian package here: when nvcc is present the
# CUDA sources are compiled, otherwise the build is CPU-only.
set -euo pipefail

PACKAGES=(
  g++ cmake make pkg-config
  libeigen3-dev nlohmann-json3-dev zlib1g-dev libstb-dev libpng-dev libjpeg-dev
  catch2 libbenchmark-dev util-linux
  python3 python3-numpy python3-torch libopenblas0-pthread
  dataset-fashion-mnist
  graphviz
  libcpp-httplib-dev
)

if [ "${1:-}" = "--tests" ]; then
  PACKAGES+=(clang-16 libc++-16-dev libc++abi-16-dev libomp-16-dev ninja-build clang-14 libclang-rt-14-dev
             chromium python3-websocket)
elif [ $# -gt 0 ]; then
  echo "setup: unknown argument '$1' (usage: setup.sh [--tests])" >&2
  exit 2
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
