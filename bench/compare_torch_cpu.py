#!/usr/bin/python3
"""duel's fast CPU convolution kernels against PyTorch's on the same machine and thread count.

Runs build/bench/duel_bench_cpu (fast path only) and times the same three passes of every GAN
layer with torch in this process, then prints milliseconds and the ratio torch / duel (> 1:
duel is faster). Usage:
    /usr/bin/python3 bench/compare_torch_cpu.py [--threads 2] [--filter dcgan28] [--bench PATH]

PyTorch runs in its best configuration on this machine (bench/torch_train_step.py --cpu-peer
measures them): at one thread OpenBLAS on one thread (OPENBLAS_NUM_THREADS=1), at more the OpenMP
build of OpenBLAS (Debian's libopenblas0-openmp, put first with LD_LIBRARY_PATH: the script
starts itself again with it), so OpenBLAS shares PyTorch's threads instead of adding its own;
--blas picks one. This matters for the transposed convolutions, whose CPU path is im2col +
OpenBLAS; the convolutions run in oneDNN either way.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OPENBLAS_OPENMP_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--filter", default="")
    ap.add_argument("--bench", default=os.path.join(HERE, "..", "build", "bench", "duel_bench_cpu"))
    ap.add_argument("--blas", choices=["openblas-1", "openblas-openmp"], default=None,
                    help="PyTorch's BLAS set-up (default: openblas-1 at one thread, openblas-openmp at more)")
    return ap.parse_args()


ARGS = parse_args()
BLAS = ARGS.blas or ("openblas-1" if ARGS.threads == 1 else "openblas-openmp")
if BLAS == "openblas-openmp":
    if not os.path.exists(os.path.join(OPENBLAS_OPENMP_DIR, "libopenblas.so.0")):
        sys.exit(f"compare_torch_cpu: {OPENBLAS_OPENMP_DIR} is missing (Debian package libopenblas0-openmp); "
                 "use --blas openblas-1")
    if OPENBLAS_OPENMP_DIR not in os.environ.get("LD_LIBRARY_PATH", "").split(":"):
        os.environ["LD_LIBRARY_PATH"] = OPENBLAS_OPENMP_DIR + (
            ":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get("LD_LIBRARY_PATH") else "")
        os.execv(sys.executable, [sys.executable] + sys.argv)  # the loader reads it at start only
    os.environ.pop("OPENBLAS_NUM_THREADS", None)
else:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# name -> (transposed, N, C_in, H, C_out, k, stride, pad), as in bench/gan_shapes.h
LAYERS = {
    "dcgan28.G.0 convT 100->256 k7 1->7": (True, 64, 100, 1, 256, 7, 1, 0),
    "dcgan28.G.3 convT 256->128 k4s2 7->14": (True, 64, 256, 7, 128, 4, 2, 1),
    "dcgan28.G.6 convT 128->1 k4s2 14->28": (True, 64, 128, 14, 1, 4, 2, 1),
    "dcgan28.D.0 conv 1->64 k4s2 28->14": (False, 64, 1, 28, 64, 4, 2, 1),
    "dcgan28.D.2 conv 64->128 k4s2 14->7": (False, 64, 64, 14, 128, 4, 2, 1),
    "dcgan28.D.5 conv 128->1 k7 7->1": (False, 64, 128, 7, 1, 7, 1, 0),
    "dcgan64.G.0 convT 100->512 k4 1->4": (True, 128, 100, 1, 512, 4, 1, 0),
    "dcgan64.G.3 convT 512->256 k4s2 4->8": (True, 128, 512, 4, 256, 4, 2, 1),
    "dcgan64.G.6 convT 256->128 k4s2 8->16": (True, 128, 256, 8, 128, 4, 2, 1),
    "dcgan64.G.9 convT 128->64 k4s2 16->32": (True, 128, 128, 16, 64, 4, 2, 1),
    "dcgan64.G.12 convT 64->3 k4s2 32->64": (True, 128, 64, 32, 3, 4, 2, 1),
    "dcgan64.D.0 conv 3->64 k4s2 64->32": (False, 128, 3, 64, 64, 4, 2, 1),
    "dcgan64.D.2 conv 64->128 k4s2 32->16": (False, 128, 64, 32, 128, 4, 2, 1),
    "dcgan64.D.5 conv 128->256 k4s2 16->8": (False, 128, 128, 16, 256, 4, 2, 1),
    "dcgan64.D.8 conv 256->512 k4s2 8->4": (False, 128, 256, 8, 512, 4, 2, 1),
    "dcgan64.D.11 conv 512->1 k4 4->1": (False, 128, 512, 4, 1, 4, 1, 0),
}


def median_ms(fn, min_time=0.3):
    fn()  # warm-up
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


def torch_times(spec):
    transposed, n, ci, h, co, k, s, p = spec
    x = torch.randn(n, ci, h, h, requires_grad=True)
    if transposed:
        w = torch.randn(ci, co, k, k, requires_grad=True)
        op = lambda: F.conv_transpose2d(x, w, stride=s, padding=p)  # noqa: E731
    else:
        w = torch.randn(co, ci, k, k, requires_grad=True)
        op = lambda: F.conv2d(x, w, stride=s, padding=p)  # noqa: E731
    with torch.no_grad():
        y = op()
    gy = torch.randn_like(y)
    y_graph = op()
    fwd = median_ms(lambda: op().detach())
    gx = median_ms(lambda: torch.autograd.grad(y_graph, x, gy, retain_graph=True))
    gw = median_ms(lambda: torch.autograd.grad(y_graph, w, gy, retain_graph=True))
    return {"forward": fwd, "input_grad": gx, "weight_grad": gw}


def main():
    args = ARGS
    torch.set_num_threads(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    out = subprocess.run([args.bench, "--benchmark_format=json", f"--benchmark_filter=fast/.*{args.filter}"],
                         capture_output=True, text=True, env=env, check=True).stdout
    duel = {}
    for b in json.loads(out)["benchmarks"]:
        _, layer, pass_, _ = b["name"].split("/")
        duel[(layer, pass_)] = b["real_time"]
    print(f"torch {torch.__version__}, {args.threads} thread(s), BLAS {BLAS}; ratio = torch ms / duel ms "
          "(> 1: duel faster)")
    print(f"{'layer':40s} {'pass':12s} {'duel ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    total_duel = total_torch = 0.0
    for layer, spec in LAYERS.items():
        if args.filter and args.filter not in layer:
            continue
        t = torch_times(spec)
        for pass_ in ("forward", "input_grad", "weight_grad"):
            d = duel[(layer, pass_)]
            total_duel += d
            total_torch += t[pass_]
            print(f"{layer:40s} {pass_:12s} {d:9.3f} {t[pass_]:9.3f} {t[pass_] / d:6.2f}")
    print(f"{'all layers, all passes':53s} {total_duel:9.3f} {total_torch:9.3f} {total_torch / total_duel:6.2f}")


if __name__ == "__main__":
    main()
