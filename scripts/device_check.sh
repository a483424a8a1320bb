#!/usr/bin/env bash
# GPU validation in one call, on a bare CUDA machine: correctness on the hardware, kernel ratios
# against cuDNN/cuBLAS, whole training steps against PyTorch on the same card, sanitizers, and
# the whole test suite if time remains. Every step has its own time cap and a failure never stops
# the run; the summary table comes last.
#
#   here:           bash scripts/device_pack.sh            (builds and fills device-bundle/)
#   device tool:    run(command="bash scripts/device_check.sh", carry=["device-bundle"], timeout_s=420)
#   rehearse here:  bash scripts/device_check.sh --rehearse (no GPU: the route and the bookkeeping)
#                   bash scripts/device_check.sh --rehearse-steps (only the training-steps step, with
#                   this tree's build/duel on the emulated device: a minute or two)
#
# Route: the carried binaries (device-bundle/bin) when the sources still hash as when they were
# packed, the CPU runs x86-64-v3 code and the carried duel starts; otherwise the source route
# (scripts/device_source_build.sh against the bundle's .deb files). Order, by value:
#   probe -> route/build -> CUDA tests -> kernel benchmarks -> training steps vs PyTorch
#   -> compute-sanitizer memcheck + racecheck on the CUDA op tests -> SASS checks of the kernels
#   -> the whole suite
# Writes 8 files directly under $OUT (default build-device/report): summary.md; run.log (probe,
# route, build, benchmark console, SASS checks); cuda_tests.log; bench_cuda.json (dcgan64 passes,
# the main table) and bench_cuda_more.json (dcgan28, tile ladder, matmul, bandwidth kernels);
# steps.jsonl; sanitizer.log; suite.log.
# env: OUT, BUNDLE (device-bundle), BUDGET_S (330: the whole run, machine start excluded)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
OUT="${OUT:-build-device/report}"
BUNDLE="${BUNDLE:-device-bundle}"
BUDGET_S="${BUDGET_S:-330}"
WORK="${WORK:-build-device}"
REHEARSE=0 STEPS_ONLY=0
case "${1:-}" in
  "") ;;
  --rehearse) REHEARSE=1 ;;
  --rehearse-steps) REHEARSE=1 STEPS_ONLY=1 ;;
  *) echo "usage: device_check.sh [--rehearse | --rehearse-steps]" >&2; exit 2 ;;
esac
mkdir -p "$OUT" "$WORK"
START=$(date +%s)
ROWS=()          # summary rows: step|result|seconds|detail
FAILED=0
ENV="$OUT/run.log"
: >"$ENV"

left() { echo $((BUDGET_S - ($(date +%s) - START))); }
row() { ROWS+=("$1|$2|$3|$4"); }

# run_step NAME CAP LOG CMD...: runs CMD with a time cap (shortened to the time left), appends its
# output to LOG, and records pass / fail / timeout / skip. Exit 77 means "skipped" (no GPU here).
run_step() {
  local name="$1" cap="$2" log="$3"
  shift 3
  local remain
  remain=$(left)
  if [ "$remain" -lt 20 ]; then
    row "$name" "not run" 0 "no time left"
    return 99
  fi
  [ "$cap" -le $((remain - 10)) ] || cap=$((remain - 10))
  local t0 rc
  t0=$(date +%s)
  echo "=== $name (cap ${cap}s): $*" >>"$log"
  timeout -k 5 "$cap" "$@" >>"$log" 2>&1
  rc=$?
  local secs=$(($(date +%s) - t0))
  case $rc in
    0) row "$name" pass "$secs" "" ;;
    77) row "$name" skipped "$secs" "$(tail -n 1 "$log")" ;;
    124|137) row "$name" TIMEOUT "$secs" "stopped at the ${cap}s cap"; FAILED=1 ;;
    *) row "$name" FAIL "$secs" "exit $rc; see $(basename "$log")"; FAILED=1 ;;
  esac
  return $rc
}

# ---------------------------------------------------------------------------------------------
# 1. Probe
# ---------------------------------------------------------------------------------------------
HAVE_GPU=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then HAVE_GPU=1; fi
PY=python3
command -v "$PY" >/dev/null || PY=""
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "host: $(uname -n), $(uname -r)"
  if [ -f "$BUNDLE/MANIFEST" ]; then sed 's/^/bundle /' "$BUNDLE/MANIFEST"; fi
  git rev-parse HEAD 2>/dev/null | sed 's/^/tree commit: /'
  if [ "$HAVE_GPU" = 1 ]; then
    nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit \
      --format=csv
  else
    echo "gpu: none visible (nvidia-smi -L fails or is absent)"
  fi
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "cpu flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|bmi2|movbe|f16c|avx512f|avx512_bf16|amx_tile' | tr '\n' ' ')"
  echo "g++: $(g++ --version 2>/dev/null | head -1)"
  echo "cmake: $(cmake --version 2>/dev/null | head -1)"
  echo "ninja: $(ninja --version 2>/dev/null || echo none)"
  echo "nvcc: $( (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version 2>/dev/null) | tail -2 | head -1)"
  echo "compute-sanitizer: $(compute-sanitizer --version 2>/dev/null | tail -1 || echo none)"
  echo "glibc: $(ldd --version | head -1 | awk '{print $NF}')"
  if [ -n "$PY" ]; then
    "$PY" - <<'EOF' 2>&1
try:
    import torch
    print(f"python: {__import__('sys').version.split()[0]}; torch {torch.__version__}, cuda available "
          f"{torch.cuda.is_available()}, cudnn {torch.backends.cudnn.version() if torch.cuda.is_available() else '-'}")
except Exception as e:
    print(f"python: torch not importable ({e})")
EOF
  fi
} >>"$ENV" 2>&1

# The CUDA runtime (the carried kernels library uses the shared one), cuDNN and cuBLAS: the
# system's (the toolkit, ldconfig) first, then PyTorch's pip wheels.
wheel_dirs() {
  [ -n "$PY" ] || return 0
  "$PY" -c "import os, nvidia; print('\n'.join(os.path.join(p, s, 'lib') for p in nvidia.__path__ for s in sorted(os.listdir(p))))" 2>/dev/null || true
}
lib_dir_of() {  # soname -> the folder that has it
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib \
           $(ldconfig -p 2>/dev/null | awk -v s="$1" '$1 == s {print $NF}' | xargs -r -n1 dirname) $(wheel_dirs); do
    if [ -e "$d/$1" ]; then echo "$d"; return 0; fi
  done
  return 1
}
LIBPATH=""
for so in libcudart.so.13 libcudnn.so.9 libcublas.so.13 libcublasLt.so.13; do
  if d=$(lib_dir_of "$so"); then
    echo "$so: $d" >>"$ENV"
    case ":$LIBPATH:" in *":$d:"*) ;; *) LIBPATH="$LIBPATH:$d" ;; esac
  else
    echo "$so: not found (system or PyTorch's wheels)" >>"$ENV"
  fi
done
row probe pass $(($(date +%s) - START)) "$( [ "$HAVE_GPU" = 1 ] && nvidia-smi --query-gpu=name --format=csv,noheader | head -1 || echo 'no GPU')"

if [ "$HAVE_GPU" = 0 ] && [ "$REHEARSE" = 0 ]; then
  cat "$ENV"
  echo "device_check: no NVIDIA GPU visible (nvidia-smi -L fails); nothing to check here (--rehearse tries the rest)" >&2
  exit 2
fi

# ---------------------------------------------------------------------------------------------
# 2. Route: carried binaries, or a source build from the bundle's packages
# ---------------------------------------------------------------------------------------------
ROUTE="" BIN="" SUITE_BIN="" WHY=""
cpu_runs_v3() {
  local f
  f=$(grep -m1 '^flags' /proc/cpuinfo)
  for flag in avx2 fma bmi2 movbe f16c; do [[ " $f " == *" $flag "* ]] || return 1; done
}
if [ "$STEPS_ONLY" = 1 ]; then
  ROUTE=tree
  BIN="$ROOT/build"
  row route pass 0 "this tree's build/ (--rehearse-steps)"
elif [ ! -x "$BUNDLE/bin/duel" ]; then
  WHY="no carried binaries in $BUNDLE/bin"
elif [ "$(tr '\n' '\0' <"$BUNDLE/SOURCES" | xargs -0 sha256sum 2>/dev/null | sha256sum | cut -d' ' -f1)" != \
       "$(sed -n 's/^sources_sha256: //p' "$BUNDLE/MANIFEST")" ]; then
  WHY="the sources changed since $BUNDLE was packed"
elif ! cpu_runs_v3; then
  WHY="this CPU lacks x86-64-v3 (AVX2, FMA, BMI2, MOVBE, F16C)"
elif ! LD_LIBRARY_PATH="$ROOT/$BUNDLE/lib$LIBPATH" "$BUNDLE/bin/duel" ops >/dev/null 2>>"$ENV"; then
  WHY="the carried duel does not start here (see run.log)"
else
  ROUTE=carried
  BIN="$ROOT/$BUNDLE/bin"
  export LD_LIBRARY_PATH="$ROOT/$BUNDLE/lib$LIBPATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  missing=$(ldd "$BIN"/* 2>/dev/null | grep "not found" | sort -u | tr -s ' \t' ' ')
  row route pass 0 "carried binaries${missing:+; missing:$missing}"
fi
echo "route: ${ROUTE:-source} ${WHY:+($WHY)}" >>"$ENV"
if [ -z "$ROUTE" ]; then
  ROUTE=source
  arch=90
  [ "$HAVE_GPU" = 1 ] && arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
  export LD_LIBRARY_PATH="${LIBPATH#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if run_step "build (source route: $WHY)" 240 "$ENV" env CUDA_ARCH="$arch" \
       TARGETS="duel duel_cuda_tests duel_bench_cuda" bash scripts/device_source_build.sh \
       "$BUNDLE/debs" "$WORK/prefix" "$WORK/build" -DDUEL_CUDNN_ROOT="$(lib_dir_of libcudnn.so.9 | xargs -r dirname)"; then
    BIN="$ROOT/$WORK/bin"
    mkdir -p "$BIN"
    for b in duel tests/duel_cuda_tests bench/duel_bench_cuda; do
      [ -x "$WORK/build/$b" ] && ln -sf "$ROOT/$WORK/build/$b" "$BIN/"
    done
  fi
fi

# ---------------------------------------------------------------------------------------------
# 3. CUDA tests (on a GPU machine a skip is a failure)
# ---------------------------------------------------------------------------------------------
if [ "$STEPS_ONLY" = 1 ]; then
  :
elif [ -x "$BIN/duel_cuda_tests" ]; then
  run_step "CUDA tests (duel_cuda_tests)" 100 "$OUT/cuda_tests.log" "$BIN/duel_cuda_tests" --durations yes
  rc=$?
  if [ $rc = 77 ] && [ "$HAVE_GPU" = 1 ]; then
    ROWS[-1]="CUDA tests (duel_cuda_tests)|FAIL|0|skipped on a GPU machine"
    FAILED=1
  fi
else
  row "CUDA tests" "not run" 0 "no duel_cuda_tests (route failed)"
  FAILED=1
fi

# ---------------------------------------------------------------------------------------------
# 4. Kernel benchmarks against cuDNN / cuBLAS
# ---------------------------------------------------------------------------------------------
if [ "$HAVE_GPU" = 0 ]; then
  row "kernel benchmarks" skipped 0 "no GPU"
elif [ -x "$BIN/duel_bench_cuda" ]; then
  # Two runs, each writing its JSON when it ends: the dcgan64 table first, the rest after.
  run_step "kernel benchmarks, dcgan64 (duel_bench_cuda)" 120 "$ENV" "$BIN/duel_bench_cuda" \
    --benchmark_filter='^dcgan64' --benchmark_out="$OUT/bench_cuda.json" --benchmark_out_format=json
  run_step "kernel benchmarks, the rest" 100 "$ENV" "$BIN/duel_bench_cuda" \
    --benchmark_filter='-^dcgan64' --benchmark_out="$OUT/bench_cuda_more.json" --benchmark_out_format=json
else
  row "kernel benchmarks" "not run" 0 "no duel_bench_cuda (cuDNN or cuBLAS missing at build?)"
  FAILED=1
fi

# ---------------------------------------------------------------------------------------------
# 5. Whole training steps: duel eager and as one CUDA graph per step, against PyTorch eager and
#    PyTorch's step captured as a CUDA graph, TF32 off and on, on the same card. Bounded: the
#    script starts no measurement after --time-budget seconds (those are written as skipped) and
#    stops a duel run after --duel-timeout; each line of steps.jsonl is written as it is measured.
#    Rehearsal (no GPU): PyTorch on the CPU, duel on the emulated device with --dry-run.
# ---------------------------------------------------------------------------------------------
STEP_CONFIGS=(--config dcgan28:ns:64 --config dcgan28:wgan-gp:64 --config dcgan64:ns:128)
steps_budget() {  # the step's cap, what the script may start within it, and each duel run's limit
  local cap=$1 remain
  remain=$(left)
  [ "$cap" -le $((remain - 10)) ] || cap=$((remain - 10))
  echo "--time-budget $((cap > 60 ? cap - 35 : cap / 2)) --duel-timeout 30"
}
TORCH_PY=""
for cand in "$PY" /usr/bin/python3; do
  if [ -n "$cand" ] && "$cand" -c "import torch" 2>/dev/null; then TORCH_PY="$cand"; break; fi
done
if [ -z "$TORCH_PY" ]; then
  row "training steps vs PyTorch" "not run" 0 "no python3 with torch"
  FAILED=1
elif [ ! -x "$BIN/duel" ]; then
  row "training steps vs PyTorch" "not run" 0 "no duel (route failed)"
  FAILED=1
elif [ "$HAVE_GPU" = 1 ]; then
  math=()
  if "$BIN/duel" bench step --help 2>&1 | grep -q -- "--math"; then math=(--duel-math fp32 tf32 bf16); fi
  # shellcheck disable=SC2046  # steps_budget prints options
  run_step "training steps vs PyTorch" 150 "$ENV" bash -c '"$0" bench/torch_train_step.py "$@" >"'"$OUT"'/steps.jsonl"' \
    "$TORCH_PY" --device cuda "${STEP_CONFIGS[@]}" --tf32 off on --torch-graph off on --duel-graph off on \
    --json --duel "$BIN/duel" "${math[@]}" $(steps_budget 150)
else
  # shellcheck disable=SC2046
  run_step "training steps (rehearsal: torch on the cpu, duel --dry-run on the emulated device)" 150 "$ENV" \
    env DUEL_CUDA_EMULATE=1 bash -c '"$0" bench/torch_train_step.py "$@" >"'"$OUT"'/steps.jsonl"' \
    "$TORCH_PY" --device cpu --duel-device cuda:0 --duel-dry-run "${STEP_CONFIGS[@]}" --duel-graph off on \
    --steps 1 --warmup 0 --json --duel "$BIN/duel" --duel-math fp32 tf32 bf16 $(steps_budget 150)
fi

# ---------------------------------------------------------------------------------------------
# 6. compute-sanitizer on the CUDA op tests (the emulator cannot see races between warps)
# ---------------------------------------------------------------------------------------------
if [ "$HAVE_GPU" = 0 ]; then
  row "compute-sanitizer" skipped 0 "no GPU"
elif ! command -v compute-sanitizer >/dev/null; then
  row "compute-sanitizer" "not run" 0 "compute-sanitizer not found"
elif [ -x "$BIN/duel_cuda_tests" ]; then
  run_step "memcheck (CUDA op tests)" 100 "$OUT/sanitizer.log" compute-sanitizer --tool memcheck \
    --error-exitcode 1 --print-limit 20 "$BIN/duel_cuda_tests" "[ops]"
  run_step "racecheck (CUDA op tests)" 80 "$OUT/sanitizer.log" compute-sanitizer --tool racecheck \
    --error-exitcode 1 --print-limit 20 "$BIN/duel_cuda_tests" "[ops]"
fi

# ---------------------------------------------------------------------------------------------
# 7. Static checks of the kernels with the toolkit's cuobjdump (HMMA in the tensor-core kernels,
#    no local memory): the development machine's toolkit has no cuobjdump, so CI reads ptxas only
# ---------------------------------------------------------------------------------------------
NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
if [ "$HAVE_GPU" = 0 ]; then
  row "SASS checks" skipped 0 "no GPU (CI runs the ptxas checks)"
elif [ -x "$NVCC" ] && [ -n "$PY" ]; then
  run_step "SASS checks (scripts/check_kernels.py)" 90 "$ENV" "$PY" scripts/check_kernels.py --nvcc "$NVCC"
  grep -q "SASS (cuobjdump)" "$ENV" || ROWS[-1]="${ROWS[-1]%|*}|no cuobjdump here either: ptxas only"
else
  row "SASS checks" "not run" 0 "no nvcc or python3"
fi

# ---------------------------------------------------------------------------------------------
# 8. The whole test suite, with the GPU visible, in the time that remains
# ---------------------------------------------------------------------------------------------
SUITE="$OUT/suite.log"
if [ "$STEPS_ONLY" = 1 ]; then
  :
elif [ "$ROUTE" = carried ] && [ -x "$BIN/duel_tests" ]; then
  # Three processes side by side (Catch2 tag filters), paths pointed at this tree.
  suite() {
    local tmp="$WORK/suite" pids=() rc=0 i=0
    rm -rf "$tmp" && mkdir -p "$tmp"
    for filter in "[cuda-emu]" "[train]~[cuda-emu]" "~[train]~[cuda-emu]"; do
      DUEL_TEST_BINARY="$BIN/duel" DUEL_TEST_SOURCE_DIR="$ROOT" DUEL_TEST_TMP="$ROOT/$tmp/t$i" \
        "$BIN/duel_tests" "$filter" >"$tmp/out$i" 2>&1 &
      pids+=($!)
      i=$((i + 1))
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    cat "$tmp"/out*
    return $rc
  }
  export -f suite
  export BIN ROOT WORK
  run_step "whole suite (duel_tests, GPU visible)" 600 "$SUITE" bash -c suite
elif [ "$ROUTE" = source ] && [ -d "$WORK/build" ]; then
  run_step "whole suite (ctest, GPU visible)" 600 "$SUITE" bash -c \
    "cmake --build '$WORK/build' -j$(nproc) --target all && cd '$WORK/build' && ctest -j$(nproc) --output-on-failure"
else
  row "whole suite" "not run" 0 "nothing built"
fi

# ---------------------------------------------------------------------------------------------
# Summary, last
# ---------------------------------------------------------------------------------------------
{
  echo "# duel device check"
  echo
  echo '```'
  grep -E "^(date|host|bundle commit|tree commit|name|NVIDIA|cpu:|route)" "$ENV" | head -8
  [ "$HAVE_GPU" = 1 ] && nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader
  echo '```'
  echo
  echo "| step | result | s | detail |"
  echo "|---|---|---|---|"
  for r in "${ROWS[@]}"; do echo "| ${r//|/ | } |"; done
  for json in bench_cuda.json bench_cuda_more.json; do
    if [ -s "$OUT/$json" ] && [ -n "$PY" ]; then
      echo
      "$PY" bench/cuda_table.py "$OUT/$json" 2>&1
    fi
  done
  if [ -s "$OUT/steps.jsonl" ] && [ -n "$PY" ]; then
    echo
    "$PY" bench/steps_table.py "$OUT/steps.jsonl" 2>&1
  fi
  for log in cuda_tests.log suite.log; do
    [ -s "$OUT/$log" ] && grep -E "^(test cases|All tests passed)" "$OUT/$log" | sed "s/^/$log: /"
  done
  [ -s "$OUT/sanitizer.log" ] && grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/sanitizer.log" | sed 's/^/sanitizer: /'
  echo
  echo "total: $(($(date +%s) - START)) s; route: $ROUTE${WHY:+ ($WHY)}"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
exit $FAILED
