#!/usr/bin/env python3
"""The training step of `duel bench step` in PyTorch, on the CPU or a GPU, next to duel's own run
of the same step: n_critic critic updates, each on fresh z (and fresh epsilon for WGAN-GP), the last
one's fake batch keeping G's graph, then one generator update through the updated critic. Both use
the same models (PyTorch's DCGAN example layers), optimiser settings and a fixed synthetic real
batch. Prints median ms per step and images/s for each engine and the ratio torch/duel (above 1,
duel is faster).

    python3 bench/torch_train_step.py --model dcgan28 --loss ns --batch 64 [--threads 2]
    python3 bench/torch_train_step.py --device cuda --config dcgan28:ns:64 \\
        --config dcgan28:wgan-gp:64 --config dcgan64:ns:128 --tf32 off on --json

On a GPU every timed step is bracketed by torch.cuda.synchronize(), so the time is the work, not
its queueing. --tf32 off disallows TF32 in cuDNN convolutions and in matmul (the arithmetic class
of duel's FP32 kernels); on allows both. These models have no matmul, so `on` is exactly what a
PyTorch user gets by default (cuDNN convolutions on TF32 tensor cores). Several --config and --tf32
values run in one process; with --json each measurement is one JSON object per line.

--cpu-peer measures PyTorch on the CPU the way a user who cares about speed would configure it,
next to duel and the arithmetic floor, at each of --peer-threads (default 1 and 2):

    /usr/bin/python3 bench/torch_train_step.py --cpu-peer --config dcgan28:ns:64 \
        --config dcgan28:wgan-gp:64 --config dcgan64:ns:128 --duel-math fp32 bf16 --json

Each PyTorch configuration runs in its own process (BLAS settings are fixed at load time):
  default     torch.set_num_threads(t), nothing else (Debian links the pthreads OpenBLAS, whose
              own worker threads compete with PyTorch's OpenMP threads)
  openblas-1  OPENBLAS_NUM_THREADS=1: OpenBLAS single-threaded under PyTorch's threads
  openblas-openmp  the OpenMP build of OpenBLAS (Debian's libopenblas0-openmp, put first with
              LD_LIBRARY_PATH), which shares PyTorch's OpenMP threads instead of adding its own
"best" is the fastest of them at that thread count. Each process also times a 2048^3 SGEMM
(torch.mm, best of 5); the floor of a step is its convolution FLOPs (bench/roofline.py,
step_flops) over the fastest SGEMM rate at that thread count. duel runs `duel bench step` with
--threads t for each --duel-math mode.

--torch-graph on captures PyTorch's whole step (all critic updates with the penalty's double
backward, the generator update, both optimisers with capturable=True, z and epsilon drawn inside)
as one CUDA graph with torch.cuda.graph after warm-up steps on a side stream, and times its
replays: PyTorch at its least launch-bound. --duel-graph runs `duel bench step --cuda-graph`
off and on the same way. On a GPU both default to off and on.

    python3 bench/torch_train_step.py --device cuda --config dcgan28:ns:64 --tf32 off on \\
        --torch-graph off on --duel-graph off on --duel-math fp32 tf32 --json

--time-budget S bounds a whole run: a measurement that would start after S seconds is not run
but written as a record with "skipped"; each duel run is also stopped after --duel-timeout
seconds (default 120). scripts/device_check.sh uses both. --duel-device runs duel elsewhere than
PyTorch and --duel-dry-run passes --dry-run to `duel bench step`: the device check's rehearsal
on a machine without a GPU runs PyTorch on the CPU and duel on the emulated CUDA device
(DUEL_CUDA_EMULATE=1), kernels counted but not run, to exercise the route and the records.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
NZ = 100


def models(name, critic_norm):
    if name == "dcgan28":
        g = nn.Sequential(
            nn.ConvTranspose2d(NZ, 256, 7, 1, 0, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
            nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 1, 4, 2, 1, bias=False), nn.Tanh())
        norm = nn.BatchNorm2d(128) if critic_norm == "batchnorm" else nn.Identity()
        d = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), norm, nn.LeakyReLU(0.2),
            nn.Conv2d(128, 1, 7, 1, 0, bias=False))
        return g, d, 1, 28
    if name != "dcgan64":
        raise SystemExit(f"torch_train_step: unknown model '{name}' (dcgan28, dcgan64)")
    ngf = ndf = 64
    g = nn.Sequential(
        nn.ConvTranspose2d(NZ, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())
    n = (lambda c: nn.BatchNorm2d(c)) if critic_norm == "batchnorm" else (lambda c: nn.Identity())
    d = nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), n(ndf * 2), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), n(ndf * 4), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), n(ndf * 8), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))
    return g, d, 3, 64


def train_step(g, d, opt_g, opt_d, real, batch, wgan_gp, n_critic, device):
    """One step as `duel bench step` takes it. Returns (loss_D, loss_G) as tensors (no host read)."""
    fake = None
    for k in range(n_critic):
        z = torch.randn(batch, NZ, 1, 1, device=device)
        if k + 1 == n_critic:
            fake = g(z)
        else:
            with torch.no_grad():
                fake = g(z)
        opt_d.zero_grad(set_to_none=True)
        if wgan_gp:
            eps = torch.rand(batch, 1, 1, 1, device=device)
            x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
            (gx,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
            gp = ((torch.sqrt((gx ** 2).sum(dim=(1, 2, 3)) + 1e-12) - 1) ** 2).mean()
            loss_d = d(fake.detach()).mean() - d(real).mean() + 10 * gp
        else:
            out_r, out_f = d(real).view(-1), d(fake.detach()).view(-1)
            loss_d = (F.binary_cross_entropy_with_logits(out_r, torch.ones_like(out_r))
                      + F.binary_cross_entropy_with_logits(out_f, torch.zeros_like(out_f)))
        loss_d.backward()
        opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    out = d(fake).view(-1)
    loss_g = -out.mean() if wgan_gp else F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    loss_g.backward()
    opt_g.step()
    return loss_d, loss_g


def set_tf32(mode):
    on = mode == "on"
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def measure_torch(model, loss, batch, device, steps, warmup, graph=False):
    """Median, min and max ms per step of the PyTorch step; with `graph`, of its CUDA graph's
    replays (the step captured once with torch.cuda.graph, as PyTorch's whole-network capture
    recipe does: warm-up on a side stream, optimisers with capturable=True, static inputs)."""
    torch.manual_seed(1)
    wgan_gp = loss == "wgan-gp"
    g, d, c, s = models(model, "none" if wgan_gp else "batchnorm")
    g, d = g.to(device), d.to(device)
    lr, betas, n_critic = (1e-4, (0.0, 0.9), 5) if wgan_gp else (2e-4, (0.5, 0.999), 1)
    extra = {"capturable": True} if graph else {}
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=betas, **extra)
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=betas, **extra)
    real = torch.rand(batch, c, s, s, device=device) * 2 - 1
    cuda = device.type == "cuda"

    def step():
        train_step(g, d, opt_g, opt_d, real, batch, wgan_gp, n_critic, device)

    if graph:
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(max(warmup, 3)):  # the recipe asks for a few eager steps first
                step()
        torch.cuda.current_stream(device).wait_stream(side)
        captured = torch.cuda.CUDAGraph()
        with torch.cuda.graph(captured):
            step()
        run = captured.replay
        warmup = 1
    else:
        run = step
    times = []
    for it in range(warmup + steps):
        if cuda:
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        run()
        if cuda:
            torch.cuda.synchronize(device)
        if it >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times), max(times), n_critic


def measure_duel(duel, model, loss, batch, device, steps, warmup, threads, math, graph=None, dry_run=False,
                 timeout=120):
    cmd = [duel, "bench", "step", "--model", model, "--loss", loss, "--batch", str(batch),
           "--device", device, "--steps", str(steps), "--warmup", str(warmup), "--json"]
    if dry_run:
        cmd.append("--dry-run")
    if threads:
        cmd += ["--threads", str(threads)]
    if math:
        cmd += ["--math", math]
    if graph:
        cmd += ["--cuda-graph", graph]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": f"{' '.join(cmd)}: {e}"}
    if r.returncode != 0:
        lines = (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}").splitlines()
        return {"error": lines[-1] if lines else f"exit {r.returncode}"}
    return json.loads(r.stdout)


# ---- the CPU peer (--cpu-peer): PyTorch in its default and its best configurations

OPENBLAS_OPENMP_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
PEER_VARIANTS = ("default", "openblas-1", "openblas-openmp")


def peer_env(variant, threads):
    """The environment of a PyTorch process in `variant`, or None where the machine lacks it."""
    env = dict(os.environ)
    env.pop("OPENBLAS_NUM_THREADS", None)
    env["OMP_NUM_THREADS"] = str(threads)
    if variant == "openblas-1":
        env["OPENBLAS_NUM_THREADS"] = "1"
    elif variant == "openblas-openmp":
        if not os.path.exists(os.path.join(OPENBLAS_OPENMP_DIR, "libopenblas.so.0")):
            return None
        env["LD_LIBRARY_PATH"] = OPENBLAS_OPENMP_DIR + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    return env


def sgemm_gflops(size=2048, repeats=5):
    """Best-of-`repeats` rate of one size^3 float32 torch.mm, in GFLOP/s."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * size ** 3 / best / 1e9


def loaded_openblas():
    """The OpenBLAS library file this process actually loaded (from /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                if "openblas" in line:
                    return os.path.realpath(line.split()[-1])
    except OSError:
        pass
    return None


def peer_worker(args):
    """One PyTorch configuration in this process: one JSON line per --config, then the SGEMM rate."""
    torch.set_num_threads(args.threads)
    steps = args.steps or 10
    warmup = args.warmup if args.warmup is not None else 2
    out = {"threads": torch.get_num_threads(), "version": torch.__version__, "configs": []}
    for model, loss, batch in args.config or [(args.model, args.loss, args.batch)]:
        med, lo, hi, _ = measure_torch(model, loss, batch, torch.device("cpu"), steps, warmup)
        out["configs"].append({"model": model, "loss": loss, "batch": batch, "median_ms_per_step": med,
                               "min_ms_per_step": lo, "max_ms_per_step": hi})
    out["sgemm_gflops"] = sgemm_gflops()
    out["openblas"] = loaded_openblas()
    print(json.dumps(out), flush=True)
    return 0


def run_peer_variant(variant, threads, configs, args):
    """Runs peer_worker in a fresh process for `variant`; its JSON, or {"error": ...}."""
    env = peer_env(variant, threads)
    if env is None:
        return {"error": f"{variant}: {OPENBLAS_OPENMP_DIR} is missing (Debian package libopenblas0-openmp)"}
    cmd = [sys.executable, os.path.abspath(__file__), "--peer-worker", "--threads", str(threads)]
    for model, loss, batch in configs:
        cmd += ["--config", f"{model}:{loss}:{batch}"]
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    if args.warmup is not None:
        cmd += ["--warmup", str(args.warmup)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        lines = (r.stderr.strip() or f"exit {r.returncode}").splitlines()
        return {"error": f"{variant}: {lines[-1]}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def cpu_peer(args):
    """duel against PyTorch's default and best CPU configurations and the floor, per thread count."""
    sys.path.insert(0, HERE)
    import roofline  # bench/roofline.py: FLOPs per step

    configs = args.config or [(args.model, args.loss, args.batch)]
    rows = []

    def emit(rec, text):
        print(json.dumps(rec) if args.json else text, flush=True)

    for threads in args.peer_threads:
        runs = {v: run_peer_variant(v, threads, configs, args) for v in PEER_VARIANTS}
        for v, r in runs.items():
            if "error" in r:
                emit({"engine": "torch", "variant": v, "threads": threads, "error": r["error"]},
                     f"torch {v}, {threads} thread(s): skipped: {r['error']}")
        ok = {v: r for v, r in runs.items() if "error" not in r}
        if "default" not in ok:
            raise SystemExit(f"torch_train_step: PyTorch's default configuration failed: {runs['default']['error']}")
        sgemm = max(r["sgemm_gflops"] for r in ok.values())
        for ci, (model, loss, batch) in enumerate(configs):
            times = {v: r["configs"][ci]["median_ms_per_step"] for v, r in ok.items()}
            best = min(times, key=times.get)
            flops = roofline.step_flops(model, loss, batch)
            floor_ms = flops / (sgemm * 1e9) * 1e3
            rec = {"model": model, "loss": loss, "batch": batch, "threads": threads,
                   "torch_version": ok["default"]["version"], "torch_ms": times,
                   "torch_default_ms": times["default"], "torch_best_ms": times[best], "torch_best": best,
                   "sgemm_gflops": {v: r["sgemm_gflops"] for v, r in ok.items()},
                   "openblas": {v: r.get("openblas") for v, r in ok.items()},
                   "step_gflop": flops / 1e9, "floor_ms": floor_ms, "duel_ms": {}}
            for math in (args.duel_math or ["fp32"]):
                d = measure_duel(args.duel, model, loss, batch, "cpu", args.steps or 10,
                                 args.warmup if args.warmup is not None else 2, threads, math) if args.duel \
                    else {"error": "skipped (--duel '')"}
                rec["duel_ms"][math] = d.get("median_ms_per_step", None)
                if "error" in d:
                    rec.setdefault("duel_errors", {})[math] = d["error"]
            emit(rec, f"{model} {loss} batch {batch}, {threads} thread(s): torch default {times['default']:.1f} ms, "
                      f"best {times[best]:.1f} ms ({best}); floor {floor_ms:.1f} ms "
                      f"({flops / 1e9:.1f} GFLOP at {sgemm:.0f} GFLOP/s); "
                      + ", ".join(f"duel {m} " + (f"{v:.1f} ms" if v else f"failed: {rec['duel_errors'][m]}")
                                  for m, v in rec["duel_ms"].items()))
            rows.append(rec)
    if not args.json:
        print()
        print(peer_table(rows))
    return 0


def peer_table(rows):
    """The Markdown table of docs/benchmarks.md from --cpu-peer records."""
    maths = sorted({m for r in rows for m in r["duel_ms"]}, key=lambda m: (m != "fp32", m))
    head = ["model", "loss", "batch", "threads", "torch default ms", "torch best ms (config)", "floor ms"]
    head += [f"duel {m} ms" for m in maths] + [f"duel {m} / torch best" for m in maths] + ["floor / duel fp32"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"], r["loss"], str(r["batch"]), str(r["threads"]), f"{r['torch_default_ms']:.0f}",
                 f"{r['torch_best_ms']:.0f} ({r['torch_best']})", f"{r['floor_ms']:.0f}"]
        cells += [f"{r['duel_ms'][m]:.0f}" if r["duel_ms"].get(m) else "failed" for m in maths]
        cells += [f"{r['duel_ms'][m] / r['torch_best_ms']:.2f}" if r["duel_ms"].get(m) else "" for m in maths]
        fp32 = r["duel_ms"].get("fp32")
        cells.append(f"{r['floor_ms'] / fp32:.0%}" if fp32 else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_config(text):
    parts = text.split(":")
    if len(parts) != 3 or parts[1] not in ("ns", "wgan-gp") or not parts[2].isdigit():
        raise argparse.ArgumentTypeError(f"--config expects MODEL:LOSS:BATCH, e.g. dcgan28:ns:64, not '{text}'")
    return parts[0], parts[1], int(parts[2])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    ap.add_argument("--config", action="append", type=parse_config, metavar="MODEL:LOSS:BATCH",
                    help="a configuration to run (repeatable); default from --model/--loss/--batch")
    ap.add_argument("--model", default="dcgan28")
    ap.add_argument("--loss", default="ns", choices=["ns", "wgan-gp"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--tf32", nargs="+", choices=["on", "off"], default=None,
                    help="CUDA only: TF32 in cuDNN and matmul, one run per value (default: off on)")
    ap.add_argument("--cudnn-benchmark", choices=["on", "off"], default="on",
                    help="CUDA only: let cuDNN time its algorithms per shape (default on: PyTorch at its best)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 10 on the CPU, 30 on a GPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2 CPU, 5 GPU)")
    ap.add_argument("--duel", default=os.path.join(HERE, "..", "build", "duel"),
                    help="the duel program to run the same step ('' to skip duel)")
    ap.add_argument("--duel-math", nargs="+", default=None,
                    help="duel's --math modes to run (default: none given, i.e. duel's default)")
    ap.add_argument("--torch-graph", nargs="+", choices=["on", "off"], default=None,
                    help="CUDA only: PyTorch eager (off) and/or its step captured as a CUDA graph (on); "
                         "default: off on")
    ap.add_argument("--duel-graph", nargs="+", choices=["on", "off"], default=None,
                    help="CUDA only: duel bench step --cuda-graph off and/or on (default: off on)")
    ap.add_argument("--duel-device", default=None,
                    help="where duel runs (default: --device; cuda means cuda:0)")
    ap.add_argument("--duel-dry-run", action="store_true",
                    help="pass --dry-run to duel bench step (the emulated device: kernels counted, not run)")
    ap.add_argument("--duel-timeout", type=float, default=120, help="seconds before a duel run is stopped (120)")
    ap.add_argument("--time-budget", type=float, default=None,
                    help="seconds: measurements that would start later are skipped (written as skipped)")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--cpu-peer", action="store_true",
                    help="CPU: PyTorch's default and best configurations, duel and the floor per thread count")
    ap.add_argument("--peer-threads", type=int, nargs="+", default=[1, 2], help="thread counts for --cpu-peer")
    ap.add_argument("--peer-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer_worker:
        return peer_worker(args)
    if args.cpu_peer:
        if args.device != "cpu":
            raise SystemExit("torch_train_step: --cpu-peer runs on the CPU (no --device)")
        return cpu_peer(args)
    start = time.monotonic()

    def over_budget():
        return args.time_budget is not None and time.monotonic() - start > args.time_budget

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("torch_train_step: --device cuda, but this PyTorch sees no CUDA GPU")
    steps = args.steps or (30 if cuda else 10)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 2)
    threads = args.threads or (None if cuda else os.cpu_count())
    if threads:
        torch.set_num_threads(threads)
    duel_device = args.duel_device or args.device
    if duel_device == "cuda":
        duel_device = "cuda:0"
    duel_cuda = duel_device.startswith("cuda")
    tf32_modes = (args.tf32 or ["off", "on"]) if cuda else [None]
    torch_graphs = (args.torch_graph or ["off", "on"]) if cuda else ["off"]
    duel_graphs = (args.duel_graph or ["off", "on"]) if duel_cuda else [None]
    if not cuda and "on" in (args.torch_graph or []):
        raise SystemExit("torch_train_step: --torch-graph on needs --device cuda")
    if not duel_cuda and "on" in (args.duel_graph or []):
        raise SystemExit("torch_train_step: --duel-graph on needs duel on cuda (--device or --duel-device)")
    if cuda:
        torch.backends.cudnn.benchmark = args.cudnn_benchmark == "on"
    configs = args.config or [(args.model, args.loss, args.batch)]
    where = torch.cuda.get_device_name(device) if cuda else f"cpu, {threads} thread(s)"

    def emit(rec, text):
        print(json.dumps(rec) if args.json else text, flush=True)

    for model, loss, batch in configs:
        base = {"model": model, "loss": loss, "batch": batch, "device": args.device}
        torch_ms = {}  # (tf32, graph) -> median ms
        for mode in tf32_modes:
            if cuda:
                set_tf32(mode)
            for tg in torch_graphs:
                if over_budget():
                    rec = dict(base, engine="torch", tf32=mode, torch_graph=tg, skipped="time budget")
                    emit(rec, f"{model} {loss} batch {batch}: torch (tf32 {mode}, graph {tg}) skipped: time budget")
                    continue
                try:
                    med, lo, hi, n_critic = measure_torch(model, loss, batch, device, steps, warmup, tg == "on")
                except Exception as e:  # a PyTorch that cannot capture this step: say so, go on
                    rec = dict(base, engine="torch", version=torch.__version__, where=where, tf32=mode,
                               torch_graph=tg, error=f"{type(e).__name__}: {e}".splitlines()[0])
                    emit(rec, f"{model} {loss} batch {batch}: torch (graph {tg}) failed: {rec['error']}")
                    continue
                torch_ms[(mode, tg)] = med
                rec = dict(base, engine="torch", version=torch.__version__, where=where, tf32=mode,
                           torch_graph=tg, cudnn_benchmark=args.cudnn_benchmark if cuda else None,
                           threads=threads, steps=steps, median_ms_per_step=med, min_ms_per_step=lo,
                           max_ms_per_step=hi, images_per_s=batch * n_critic / med * 1e3)
                tag = f", tf32 {mode}, graph {tg}" if cuda else ""
                emit(rec, f"{model} {loss} batch {batch} on {where}{tag}: torch {torch.__version__} "
                          f"{med:8.2f} ms/step {rec['images_per_s']:8.0f} images/s")
        if not args.duel:
            continue
        for math in (args.duel_math or [None]):
            for dg in duel_graphs:
                rec = dict(base, engine="duel", math=math, duel_graph=dg)
                if over_budget():
                    rec["skipped"] = "time budget"
                    emit(rec, f"{model} {loss} batch {batch}: duel (math {math}, graph {dg}) skipped: time budget")
                    continue
                d = measure_duel(args.duel, model, loss, batch, duel_device, steps, warmup,
                                 None if duel_cuda else threads, math, dg, args.duel_dry_run, args.duel_timeout)
                if "error" in d:
                    rec["error"] = d["error"]
                    emit(rec, f"{model} {loss} batch {batch}: duel failed: {d['error']}")
                    continue
                rec.update(d)
                rec["device"] = args.device
                rec["duel_device"] = duel_device
                ratios = {(f"{m}/{g}" if cuda else "cpu"): ms / d["median_ms_per_step"]
                          for (m, g), ms in torch_ms.items()}
                rec["torch_over_duel"] = ratios
                tag = (f" --math {math}" if math else "") + (f" --cuda-graph {dg}" if dg else "")
                kernels = f", {d['kernels_per_step']} kernels/step" if "kernels_per_step" in d else ""
                emit(rec, f"{model} {loss} batch {batch}: duel{tag} {d['median_ms_per_step']:8.2f} ms/step "
                          f"{d['images_per_s']:8.0f} images/s{kernels}; torch/duel (tf32/graph) "
                          + ", ".join(f"{k}: {v:.2f}" for k, v in ratios.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
