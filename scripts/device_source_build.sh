#!/usr/bin/env bash
# The source route to duel's binaries on a machine without our Debian packages: unpacks the .deb
# files that scripts/device_pack.sh saved into a private prefix, configures CMake against that
# prefix alone (the system's /usr is ignored for packages), and builds. scripts/device_check.sh
# takes this route on a GPU machine when the carried binaries cannot serve; here,
# scripts/device_rehearsal.sh proves it with the system's copies hidden.
#
#   bash scripts/device_source_build.sh DEBS_DIR PREFIX BUILD_DIR [--configure-only] [cmake args]
# env: JOBS (nproc), CUDA_ARCH (90), TARGETS (duel duel_cuda_tests duel_bench_cuda duel_tests)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: device_source_build.sh DEBS_DIR PREFIX BUILD_DIR [--configure-only] [cmake args]" >&2; exit 2; }
DEBS_DIR="$1" PREFIX="$2" BUILD="$3"
shift 3
CONFIGURE_ONLY=0
if [ "${1:-}" = "--configure-only" ]; then CONFIGURE_ONLY=1; shift; fi
JOBS="${JOBS:-$(nproc)}"
CUDA_ARCH="${CUDA_ARCH:-90}"
TARGETS="${TARGETS:-duel duel_cuda_tests duel_bench_cuda duel_tests}"

say() { echo "device_source_build: $*"; }
die() { echo "device_source_build: $*" >&2; exit 1; }

ls "$DEBS_DIR"/*.deb >/dev/null 2>&1 || die "no .deb files in $DEBS_DIR (run scripts/device_pack.sh --debs-only here)"
rm -rf "$PREFIX"
mkdir -p "$PREFIX"
PREFIX="$(cd "$PREFIX" && pwd)"

# A .deb is an ar archive holding data.tar.{xz,zst,gz}; dpkg-deb unpacks it where there is one.
for deb in "$DEBS_DIR"/*.deb; do
  if command -v dpkg-deb >/dev/null; then
    dpkg-deb -x "$deb" "$PREFIX"
  else
    member=$(ar t "$deb" | grep '^data\.tar') || die "$deb: no data member"
    case "$member" in
      *.xz) ar p "$deb" "$member" | tar -xJ -C "$PREFIX" ;;
      *.zst) ar p "$deb" "$member" | zstd -dq | tar -x -C "$PREFIX" ;;
      *.gz) ar p "$deb" "$member" | tar -xz -C "$PREFIX" ;;
      *) die "$deb: unknown data member $member" ;;
    esac
  fi
done

# Debian's links may be absolute (zlib1g-dev's libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13):
# point each one at its copy inside the prefix instead, so nothing reaches back into the system.
while IFS= read -r link; do
  target=$(readlink "$link")
  case "$target" in
    /*) if [ -e "$PREFIX$target" ]; then
          ln -sfn "$(realpath --relative-to="$(dirname "$link")" "$PREFIX$target")" "$link"
        else
          die "$link points at $target, which no saved package provides"
        fi ;;
  esac
done < <(find "$PREFIX" -type l)
# Debian 12 puts some libraries in /lib (zlib1g): merge them into usr/lib, where CMake looks.
if [ -d "$PREFIX/lib" ]; then
  cp -a "$PREFIX/lib/." "$PREFIX/usr/lib/"
fi
say "unpacked $(ls "$DEBS_DIR"/*.deb | wc -l) packages into $PREFIX"

gen="Unix Makefiles"
command -v ninja >/dev/null && gen=Ninja
NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
cuda_args=(-DDUEL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH")
[ -x "$NVCC" ] && cuda_args+=(-DCMAKE_CUDA_COMPILER="$NVCC")
# CMAKE_IGNORE_PREFIX_PATH=/usr: no package is taken from the system, only from the prefix.
cmake -S . -B "$BUILD" -G "$gen" -DCMAKE_BUILD_TYPE=Release "${cuda_args[@]}" \
  -DCMAKE_PREFIX_PATH="$PREFIX/usr" -DCMAKE_IGNORE_PREFIX_PATH=/usr "$@" \
  || die "configure failed"
# Every dependency must have come from the prefix.
for var in DUEL_STB_LIBRARY DUEL_STB_INCLUDE_DIR Eigen3_DIR nlohmann_json_DIR ZLIB_LIBRARY_RELEASE \
           ZLIB_INCLUDE_DIR PNG_LIBRARY_RELEASE PNG_PNG_INCLUDE_DIR JPEG_LIBRARY_RELEASE JPEG_INCLUDE_DIR \
           Catch2_DIR benchmark_DIR; do
  line=$(grep "^$var:" "$BUILD/CMakeCache.txt" || true)
  case "${line#*=}" in
    "$PREFIX"/*) ;;
    *) die "$var was not taken from $PREFIX: '${line:-unset}'" ;;
  esac
done
[ "$CONFIGURE_ONLY" = 1 ] && { say "configured $BUILD against $PREFIX"; exit 0; }
# shellcheck disable=SC2086
cmake --build "$BUILD" -j"$JOBS" --target $TARGETS || die "build failed"
say "built $TARGETS in $BUILD"
