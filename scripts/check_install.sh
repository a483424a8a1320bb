#!/usr/bin/env bash
# duel as a library, as an outside project sees it: installs the build's library component into
# a temporary prefix, checks that only the public headers went there and that they are closed
# under #include (nothing internal is needed to compile against them), then configures, builds
# and runs examples/ from a copy outside the source tree with find_package(duel).
#
#   bash scripts/check_install.sh [BUILD_DIR (build)]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

cmake --build "$build" -j"${JOBS:-2}" --target duel_library
cmake --install "$build" --prefix "$prefix" --component library >/dev/null

# Every quoted #include of an installed header resolves inside the installed include/duel/, and
# no kernel implementation or command-line header is there.
python3 - "$prefix/include/duel" <<'PY'
import os, re, sys
root = sys.argv[1]
headers = [os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs]
bad = [h for h in headers if h.startswith(("kernels/cpu", "kernels/cuda", "kernels/reference", "cli/", "core/ops/"))]
missing = []
for h in headers:
    for inc in re.findall(r'^\s*#\s*include\s+"([^"]+)"', open(os.path.join(root, h)).read(), re.M):
        if not os.path.exists(os.path.join(root, inc)):
            missing.append(f"{h} includes {inc}")
if bad or missing:
    print("check_install: internal headers installed: " + ", ".join(bad) if bad else "", *missing, sep="\n")
    sys.exit(1)
print(f"check_install: {len(headers)} public headers, closed under #include")
PY

# The examples, built from outside the tree against the installed package only.
cp -r examples "$work/src"
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/build" -j"${JOBS:-2}"
"$work/build/autograd"
"$work/build/custom_gan" 20 "$work/out"
test -s "$work/out/samples.png" && test -s "$work/out/G.safetensors"
echo "check_install: the installed package builds and runs examples/ from outside the source tree"
