#!/usr/bin/env bash
# Packs what a GPU machine needs for scripts/device_check.sh into device-bundle/ (ignored by git;
# the device tool carries it). A bare CUDA image has nvcc, CMake, g++ and PyTorch (cuDNN and cuBLAS
# inside its wheels) but none of our Debian -dev packages, no package registry and another CPU, so
# the bundle holds both routes to binaries:
#
#   bin/      carried route: duel, duel_tests, duel_cuda_tests, duel_bench_cuda; Release, CUDA
#             for sm_$CUDA_ARCH, CPU code for $CPU_ARCH (never -march=native: the GPU machine's
#             CPU is not ours and could die with SIGILL)
#   lib/      libduel_cuda_kernels.so, the GPU code the four programs share (one copy instead of
#             four), and the shared libraries they need that a CUDA image lacks (from ldd: stb,
#             Google Benchmark, OpenMP, ...); not glibc, libstdc++, the driver, the CUDA runtime,
#             cuDNN or cuBLAS, which device_check.sh finds there (the system's or PyTorch's wheels)
#   debs/     source route: the .deb files of the build dependencies, unpacked on the device into
#             a private prefix by scripts/device_source_build.sh
#   SOURCES, MANIFEST   the build inputs and their hash: device_check.sh uses the carried
#             binaries only if the sources there still hash the same, else it builds from source
#
#   bash scripts/device_pack.sh [--debs-only]
# env: BUNDLE (device-bundle), CUDA_ARCH (90), CPU_ARCH (x86-64-v3), JOBS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE="${BUNDLE:-device-bundle}"
CUDA_ARCH="${CUDA_ARCH:-90}"
CPU_ARCH="${CPU_ARCH:-x86-64-v3}"
JOBS="${JOBS:-2}"
BUILD=build-pack
LIMIT_MIB=32
# The build dependencies a CUDA image lacks (scripts/setup.sh installs them here). zlib1g is the
# runtime zlib1g-dev's libz.so points at; libstb0, libbenchmark1debian, libpng16-16 and
# libjpeg62-turbo hold the shared objects (libjpeg-dev is only a name for libjpeg62-turbo-dev).
DEBS=(libeigen3-dev nlohmann-json3-dev zlib1g-dev zlib1g libstb-dev libstb0 catch2
      libbenchmark-dev libbenchmark1debian libpng-dev libpng16-16 libjpeg62-turbo-dev libjpeg62-turbo)

say() { echo "device_pack: $*"; }
die() { echo "device_pack: $*" >&2; exit 1; }

save_debs() {
  local dir="$BUNDLE/debs"
  rm -rf "$dir" && mkdir -p "$dir"
  # The installed versions, so the device builds against exactly what was tested here.
  local want=()
  for p in "${DEBS[@]}"; do
    local v
    v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null) || die "$p is not installed (run scripts/setup.sh)"
    want+=("$p=$v")
  done
  if ! (cd "$dir" && apt-get download -qq "${want[@]}" >/dev/null 2>&1); then
    # A fresh machine may have no package lists yet.
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq >/dev/null
    if ! (cd "$dir" && apt-get download -qq "${want[@]}" >/dev/null 2>&1); then
      # An installed version the archive no longer has (a security update replaced it): the
      # archive's version of that package, said aloud (same upstream release, same ABI).
      local w
      for w in "${want[@]}"; do
        (cd "$dir" && apt-get download -qq "$w" >/dev/null 2>&1) && continue
        (cd "$dir" && apt-get download -qq "${w%%=*}" >/dev/null) || die "apt-get download failed for ${w%%=*}"
        say "note: ${w%%=*} ${w#*=} (installed) is no longer in the archive; saved $(ls "$dir" | grep "^${w%%=*}_" | head -n 1)"
      done
    fi
  fi
  say "saved $(ls "$dir" | wc -l) .deb files ($(du -sh "$dir" | cut -f1)) into $dir"
}

# The inputs that decide the binaries: every tracked file under the source folders and the
# CMake files. device_check.sh hashes the same list on the device.
source_list() {
  git ls-files CMakeLists.txt core kernels nn gan cli tests bench models | LC_ALL=C sort
}
hash_sources() {  # stdin: file list
  tr '\n' '\0' | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

copy_needed_libs() {
  local bin="$1" lib
  # ldd prints "soname => path (address)"; skip what the device provides itself.
  ldd "$bin" | awk '/=> \//{print $1, $3}' | while read -r soname path; do
    case "$soname" in
      linux-vdso*|ld-linux*|libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libstdc++.so*|\
      libgcc_s.so*|libcuda.so*|libcudart.so*|libcublas*|libcudnn*|libnvrtc*|libnvJitLink*) continue ;;
    esac
    lib="$BUNDLE/lib/$soname"
    [ -e "$lib" ] || cp -L "$path" "$lib"
  done
}

[ "${1:-}" = "--debs-only" ] && { save_debs; exit 0; }
[ $# -eq 0 ] || die "unknown argument '$1' (usage: device_pack.sh [--debs-only])"
command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || die "nvcc not found: the bundle needs the CUDA build"

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/bin" "$BUNDLE/lib"
save_debs

gen="Unix Makefiles"
command -v ninja >/dev/null && gen=Ninja
if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -qx "CMAKE_GENERATOR:INTERNAL=$gen" "$BUILD/CMakeCache.txt"; then
  rm -rf "$BUILD"
fi
mkdir -p "$BUILD"
say "configuring $BUILD (Release, CUDA sm_$CUDA_ARCH, -march=$CPU_ARCH)"
cmake -S . -B "$BUILD" -G "$gen" -DCMAKE_BUILD_TYPE=Release -DDUEL_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DDUEL_CPU_ARCH="$CPU_ARCH" -DDUEL_CUDA_KERNELS_SHARED=ON \
  >"$BUILD/pack-configure.log" 2>&1 \
  || { tail -20 "$BUILD/pack-configure.log" >&2; die "configure failed (log: $BUILD/pack-configure.log)"; }
say "building duel, duel_tests, duel_cuda_tests, duel_bench_cuda with -j$JOBS"
cmake --build "$BUILD" -j"$JOBS" --target duel duel_tests duel_cuda_tests duel_bench_cuda >"$BUILD/pack-build.log" 2>&1 \
  || { grep -E "error|Error" "$BUILD/pack-build.log" | head -20 >&2; die "build failed (log: $BUILD/pack-build.log)"; }
! grep -q -- "-march=native" "$BUILD/compile_commands.json" || die "a -march=native flag is in $BUILD"

for b in duel tests/duel_tests tests/duel_cuda_tests bench/duel_bench_cuda; do
  [ -x "$BUILD/$b" ] || die "$BUILD/$b was not built"
  cp "$BUILD/$b" "$BUNDLE/bin/"
  strip --strip-unneeded "$BUNDLE/bin/$(basename "$b")"  # host symbols only
  copy_needed_libs "$BUILD/$b"
done
[ -e "$BUNDLE/lib/libduel_cuda_kernels.so" ] || die "libduel_cuda_kernels.so is not among the libraries"
strip --strip-unneeded "$BUNDLE/lib/libduel_cuda_kernels.so"  # host symbols only; the GPU code stays

source_list >"$BUNDLE/SOURCES"
{
  echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "sources_sha256: $(hash_sources <"$BUNDLE/SOURCES")"
  echo "packed: $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -n)"
  echo "cuda_arch: $CUDA_ARCH"
  echo "cpu_arch: $CPU_ARCH"
  echo "compiler: $(c++ --version | head -1); $(nvcc --version 2>/dev/null | tail -2 | head -1 || true)"
  echo "glibc: $(ldd --version | head -1 | awk '{print $NF}')"
} >"$BUNDLE/MANIFEST"

size_kib=$(du -sk "$BUNDLE" | cut -f1)
[ "$size_kib" -le $((LIMIT_MIB * 1024)) ] || die "$BUNDLE is $((size_kib / 1024)) MiB, over the ${LIMIT_MIB} MiB limit"
say "$BUNDLE: $((size_kib / 1024)) MiB"
sed 's/^/  /' "$BUNDLE/MANIFEST"
ls -la "$BUNDLE/bin" "$BUNDLE/lib" | sed 's/^/  /'
say "carry it with the device tool: carry=[\"$BUNDLE\"], command: bash scripts/device_check.sh"
