#!/usr/bin/env bash
# Configures and builds duel into build/ (Release).
#
#   scripts/build.sh [CMAKE_ARGS...]                 everything: the program, tests, benchmarks
#   BUILD_TARGETS="duel" scripts/build.sh [ARGS...]  only those targets
#
# Extra arguments go to cmake's configure step, e.g. scripts/build.sh -DDUEL_CUDA=OFF. The
# compiler's output goes to build/build.log; the terminal shows one progress line (or, when not
# a terminal, a line every 10%), and on failure the errors from the log.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-2}"
mkdir -p build
if ! cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" > build/configure.log 2>&1; then
  cat build/configure.log >&2
  echo "build: cmake could not configure the build (the messages above; also in build/configure.log)" >&2
  exit 1
fi
grep -E "^-- duel:" build/configure.log || true
targets=()
for t in ${BUILD_TARGETS:-}; do targets+=(--target "$t"); done
start=$(date +%s)
set +e
cmake --build build -j"$JOBS" "${targets[@]}" > build/build.log 2>&1 &
build_pid=$!
set -e
# Progress from the log as it grows: "[ 45%] Building CXX object .../conv.cpp.o" -> one line.
tty=0
[ -t 1 ] && tty=1
last_decile=-1
while kill -0 "$build_pid" 2> /dev/null; do
  line=$(grep -aE '^\[ *[0-9]+%\]' build/build.log | tail -n 1 || true)
  if [ -n "$line" ]; then
    pct=$(sed -E 's/^\[ *([0-9]+)%\].*/\1/' <<< "$line")
    what=$(sed -E 's/^\[ *[0-9]+%\] //; s/Building (CXX|CUDA) object //; s/\.o$//; s|CMakeFiles/[^/]*\.dir/||' <<< "$line")
    if [ "$tty" = 1 ]; then
      printf '\r\033[Kbuild: %3s%% %s (%ss)' "$pct" "${what:0:60}" "$(( $(date +%s) - start ))"
    elif [ $((pct / 10)) -gt "$last_decile" ]; then
      last_decile=$((pct / 10))
      echo "build: ${pct}% ($(( $(date +%s) - start ))s)"
    fi
  fi
  sleep 0.5
done
status=0
wait "$build_pid" || status=$?
[ "$tty" = 1 ] && printf '\r\033[K'
if [ "$status" -ne 0 ]; then
  echo "build: failed; the compiler's errors (all of its output is in build/build.log):" >&2
  grep -aE -A3 'error|Error [0-9]' build/build.log | head -n 60 >&2
  exit "$status"
fi
echo "build: done in $(( $(date +%s) - start ))s${BUILD_TARGETS:+ (targets: $BUILD_TARGETS)}"
