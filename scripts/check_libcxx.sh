#!/usr/bin/env bash
# Compiles the whole tree (CPU code, the CUDA sources through the emulator, the tests) a second
# time with clang and libc++ in its strictest header mode (_LIBCPP_REMOVE_TRANSITIVE_INCLUDES),
# which catches missing standard includes that GCC 12's libstdc++ lets through and newer
# compilers reject. Compiles and links at -O0 into build-libcxx/; runs nothing.
#   bash scripts/check_libcxx.sh        (needs clang-16 and libc++-16-dev: scripts/setup.sh --tests)
set -euo pipefail
cd "$(dirname "$0")/.."
CXX_LIBCXX="${CXX_LIBCXX:-clang++-16}"
command -v "$CXX_LIBCXX" >/dev/null || { echo "check_libcxx: $CXX_LIBCXX not found (scripts/setup.sh --tests installs it)" >&2; exit 1; }
gen="Unix Makefiles"
command -v ninja >/dev/null && gen=Ninja
mkdir -p build-libcxx
cmake -S . -B build-libcxx -G "$gen" -DCMAKE_CXX_COMPILER="$CXX_LIBCXX" -DCMAKE_BUILD_TYPE=Debug \
  -DDUEL_CUDA=OFF -DDUEL_BUILD_BENCH=OFF -DDUEL_CPU_ARCH= \
  -DCMAKE_CXX_FLAGS="-stdlib=libc++ -D_LIBCPP_REMOVE_TRANSITIVE_INCLUDES -O0 -g0" >build-libcxx/configure.log 2>&1 \
  || { tail -20 build-libcxx/configure.log >&2; echo "check_libcxx: configure failed" >&2; exit 1; }
if ! cmake --build build-libcxx -j"${JOBS:-2}" >build-libcxx/build.log 2>&1; then
  grep -E "error" build-libcxx/build.log | head -30 >&2
  echo "check_libcxx: the clang + libc++ build failed (build-libcxx/build.log)" >&2
  exit 1
fi
echo "check_libcxx: the tree compiles and links with $("$CXX_LIBCXX" --version | head -1), strict libc++" \
     "($(grep -c 'warning:' build-libcxx/build.log || true) warnings in build-libcxx/build.log)"
