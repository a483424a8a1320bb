#!/usr/bin/python3
"""Static checks of duel's CUDA kernels that need no GPU, run by CI (ctest `cuda.static`).

For every kernels/cuda/*.cu it compiles a cubin for sm_90 once, keeping the PTX, and checks:
  * ptxas' resource report: no kernel spills registers or has a stack frame (local memory);
  * the tensor-core GEMM kernels (gemm.cu, Path tf32 and bf16) issue mma.sync of their kind;
  * where cuobjdump exists (the CUDA toolkit's, not a Debian package): the SASS of those kernels
    holds HMMA and no GEMM kernel reads or writes local memory (LDL/STL).

    /usr/bin/python3 scripts/check_kernels.py --nvcc /usr/local/cuda/bin/nvcc [--arch 90]

Exit 0: all checks passed; 1: a check failed (each failure printed on its own line); 77: no nvcc
(reported by ctest as skipped, never as passed).
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# gemm.cu's kernel template: igemm_kernel<Cfg<Path, ...>, Problem>; Path 1 = tf32, 2 = bf16.
TC_KERNEL = re.compile(r"igemm_kernelINS\d+_3CfgILNS\d+_4PathE([12])E")
MMA_PTX = {"1": "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32",
           "2": "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"}


def compile_one(nvcc, arch, src, out_dir):
    cubin = os.path.join(out_dir, os.path.basename(src) + ".cubin")
    cmd = [nvcc, "-cubin", f"-arch=sm_{arch}", "-O3", "-std=c++17", "--expt-relaxed-constexpr", "-I", ROOT,
           "-DDUEL_HAVE_CUDA=1", "--keep", "--keep-dir", out_dir, "-Xptxas", "-v", "-o", cubin, src]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"check_kernels: {os.path.basename(src)} does not compile:\n{r.stderr}")
        return None, None, None
    ptx = glob.glob(os.path.join(out_dir, os.path.splitext(os.path.basename(src))[0] + "*.ptx"))
    return cubin, r.stderr, (open(ptx[0]).read() if ptx else "")


def ptx_entries(ptx):
    """{entry name: body} of a PTX file."""
    out = {}
    for m in re.finditer(r"\.entry\s+(\S+)\s*\(", ptx):
        start = m.end()
        nxt = ptx.find(".entry", start)
        out[m.group(1)] = ptx[start:nxt if nxt >= 0 else len(ptx)]
    return out


def sass_functions(cuobjdump, cubin):
    r = subprocess.run([cuobjdump, "--dump-sass", cubin], capture_output=True, text=True)
    funcs, name = {}, None
    for line in r.stdout.splitlines():
        m = re.match(r"\s*Function : (\S+)", line)
        if m:
            name = m.group(1)
            funcs[name] = []
        elif name:
            funcs[name].append(line)
    return {k: "\n".join(v) for k, v in funcs.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nvcc", default=shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc")
    ap.add_argument("--arch", default="90")
    args = ap.parse_args()
    if not os.path.exists(args.nvcc):
        print("check_kernels: skipped: no nvcc (the CUDA toolkit is not installed)")
        return 77
    cuobjdump = shutil.which("cuobjdump") or os.path.join(os.path.dirname(args.nvcc), "cuobjdump")
    cuobjdump = cuobjdump if os.path.exists(cuobjdump) else None
    failures, kernels, tc_kernels = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(glob.glob(os.path.join(ROOT, "kernels", "cuda", "*.cu"))):
            cubin, report, ptx = compile_one(args.nvcc, args.arch, src, tmp)
            if cubin is None:
                failures.append(f"{os.path.basename(src)}: compile error")
                continue
            # ptxas -v: "Compiling entry function 'NAME'" then "N bytes stack frame, S bytes spill
            # stores, L bytes spill loads".
            current = None
            for line in report.splitlines():
                m = re.search(r"Compiling entry function '([^']+)'", line)
                if m:
                    current = m.group(1)
                    kernels += 1
                m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
                if m and current and any(int(v) for v in m.groups()):
                    failures.append(f"{os.path.basename(src)}: {current}: {m.group(0)}")
            entries = ptx_entries(ptx)
            sass = sass_functions(cuobjdump, cubin) if cuobjdump else {}
            for name, body in entries.items():
                m = TC_KERNEL.search(name)
                if m:
                    tc_kernels += 1
                    if MMA_PTX[m.group(1)] not in body:
                        failures.append(f"{name}: no {MMA_PTX[m.group(1)]} in its PTX")
                    if cuobjdump and "HMMA" not in sass.get(name, ""):
                        failures.append(f"{name}: no HMMA in its SASS")
                if cuobjdump and "igemm_kernel" in name and re.search(r"\b(LDL|STL)\b", sass.get(name, "")):
                    failures.append(f"{name}: local memory (LDL/STL) in its SASS")
    for f in failures:
        print("check_kernels: FAIL", f)
    mode = "SASS (cuobjdump) and ptxas" if cuobjdump else "ptxas and PTX (no cuobjdump here: SASS not read)"
    print(f"check_kernels: {kernels} kernels, {tc_kernels} tensor-core GEMM kernels checked by {mode}: "
          f"{'all passed' if not failures else str(len(failures)) + ' failed'}")
    if tc_kernels == 0:
        print("check_kernels: FAIL no tensor-core GEMM kernel found (did the kernel names change?)")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
