#!/usr/bin/env bash
# Rehearses, on this machine, the source route that scripts/device_check.sh takes on a bare CUDA
# machine: the build dependencies come only from the .deb files saved by scripts/device_pack.sh,
# unpacked into a private prefix. So that nothing is found by accident, the system's copies of
# those packages are hidden: CMake ignores /usr as a package prefix, and (as root, where
# `unshare` works) every file of those packages is covered by an empty one in a private mount
# namespace, so a header found through a default include path fails too.
#
#   bash scripts/device_rehearsal.sh [--configure-only]
# Builds into build-rehearsal/ and runs two smoke checks of what it built. CI runs the configure
# step (--configure-only) so the route cannot rot.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE="${BUNDLE:-device-bundle}"
WORK=build-rehearsal
mode="${1:-}"
case "$mode" in ""|--configure-only) ;; *) echo "usage: device_rehearsal.sh [--configure-only]" >&2; exit 2 ;; esac

say() { echo "device_rehearsal: $*"; }
die() { echo "device_rehearsal: $*" >&2; exit 1; }

if ! ls "$BUNDLE"/debs/*.deb >/dev/null 2>&1; then
  BUNDLE="$BUNDLE" bash scripts/device_pack.sh --debs-only
fi
mkdir -p "$WORK"
# A rehearsal of a fresh device: no cached search results from an earlier configure (a library
# found on the system before the saved packages had it would stay in the cache).
rm -f "$WORK/build/CMakeCache.txt"

# The packages whose files are hidden: every saved one but the runtime zlib, which the compiler,
# CMake and the linker themselves load.
hidden=()
for deb in "$BUNDLE"/debs/*.deb; do
  name=$(dpkg-deb -f "$deb" Package)
  [ "$name" = zlib1g ] || hidden+=("$name")
done

inner=$(cat <<'EOF'
set -euo pipefail
covered=0
: >"$WORK/empty"
for pkg in $HIDDEN; do
  while IFS= read -r f; do
    if [ -f "$f" ] && [ ! -L "$f" ]; then mount --bind "$WORK/empty" "$f"; covered=$((covered + 1)); fi
  done < <(dpkg -L "$pkg")
done
[ ! -s /usr/include/eigen3/Eigen/Core ] || { echo "device_rehearsal: hiding failed" >&2; exit 1; }
echo "device_rehearsal: $covered files of the system's packages covered ($HIDDEN)"
bash scripts/device_source_build.sh "$BUNDLE/debs" "$WORK/prefix" "$WORK/build" $CONFIGURE_ONLY
EOF
)
configure_only=""
[ "$mode" = --configure-only ] && configure_only=--configure-only
export WORK BUNDLE HIDDEN="${hidden[*]}" CONFIGURE_ONLY="$configure_only"
if [ "$(id -u)" -eq 0 ] && unshare -m --propagation private true 2>/dev/null; then
  unshare -m --propagation private bash -c "$inner"
else
  say "cannot hide the system's packages here (needs root and unshare); CMake ignores /usr only"
  bash scripts/device_source_build.sh "$BUNDLE/debs" "$WORK/prefix" "$WORK/build" $configure_only
fi
[ "$mode" = --configure-only ] && { say "configure step passed"; exit 0; }

# What was built runs, with its libraries from the prefix (the build's RPATH), not the system's.
"$WORK/build/duel" ops >/dev/null || die "the rehearsed duel does not run"
ldd "$WORK/build/duel" | grep -q "libstb.so.0 => $(pwd)/$WORK/prefix" || die "duel does not load libstb from the prefix"
"$WORK/build/tests/duel_tests" "[rng]" >/dev/null || die "the rehearsed duel_tests [rng] failed"
say "passed: built from the saved packages alone; duel and duel_tests [rng] run"
