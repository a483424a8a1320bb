#!/usr/bin/env python3
"""A CPU training step on an idle and on a busy machine, at 1 and 2 threads, with libgomp's
default wait policy (waiting threads spin for a while before they sleep), passive (they sleep at
once), a short spin, and duel's default (core/runtime.h). Prints a Markdown table for
docs/benchmarks.md.

    python3 bench/busy_machine.py [--duel build/duel] [--load 2] [--rounds 3] [--steps 15] [--loss wgan-gp]

"Busy" is --load processes that never sleep (`yes > /dev/null`), as many as the machine has cores
by default: what another engineer's build or a second training run does to ours. Each cell is the
median over --rounds rounds of `duel bench step`'s median ms per step (dcgan28, ns, batch 64);
the rounds interleave the cells, so a drift of the machine touches every cell alike.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

POLICIES = {
    # libgomp without OMP_WAIT_POLICY spins GOMP_SPINCOUNT = 300000 times before it sleeps; setting
    # the variable to that value keeps libgomp's default and stops duel from choosing passive.
    "spin (libgomp's default)": {"GOMP_SPINCOUNT": "300000"},
    "passive": {"OMP_WAIT_POLICY": "passive"},
    # A short spin (about a microsecond) before sleeping: catches the next parallel region of a
    # step's many small ops without holding a core that another process wants for long.
    "short spin (GOMP_SPINCOUNT=1000)": {"GOMP_SPINCOUNT": "1000"},
    "duel's default": {},
}


def step_ms(duel, threads, env_extra, steps, loss="ns"):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_extra)
    out = subprocess.run([duel, "bench", "step", "--model", "dcgan28", "--loss", loss, "--batch", "64",
                          "--threads", str(threads), "--steps", str(steps), "--warmup", "3", "--json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["median_ms_per_step"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duel", default="build/duel")
    ap.add_argument("--load", type=int, default=os.cpu_count() or 2, help="busy processes (default: one per core)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--loss", default="ns", choices=["ns", "wgan-gp"], help="dcgan28's loss (wgan-gp: 5 critic updates)")
    ap.add_argument("--policies", nargs="+", default=None, help="the wait policies to run (default: all)")
    a = ap.parse_args()
    policies = a.policies or list(POLICIES)
    cells = [(load, policy, threads) for load in ("idle", "busy") for policy in policies for threads in (1, 2)]
    times = {c: [] for c in cells}
    for r in range(a.rounds):
        for load in ("idle", "busy"):
            hogs = []
            try:
                if load == "busy":
                    hogs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(a.load)]
                for c in cells:
                    if c[0] != load:
                        continue
                    ms = step_ms(a.duel, c[2], POLICIES[c[1]], a.steps, a.loss)
                    times[c].append(ms)
                    print(f"round {r + 1}: {load}, {c[1]}, {c[2]} thread(s): {ms:.1f} ms", file=sys.stderr, flush=True)
            finally:
                for h in hogs:
                    h.kill()
                    h.wait()
    med = {c: statistics.median(v) for c, v in times.items()}
    print(f"| machine | wait policy | 1 thread ms/step | 2 threads ms/step | 2 threads / 1 thread |")
    print("|---|---|---|---|---|")
    for load in ("idle", "busy"):
        for policy in policies:
            one, two = med[(load, policy, 1)], med[(load, policy, 2)]
            where = "idle" if load == "idle" else f"busy ({a.load} × `yes`)"
            print(f"| {where} | {policy} | {one:.1f} | {two:.1f} | {two / one:.2f} |")


if __name__ == "__main__":
    main()
