#!/usr/bin/env python3
"""Turns duel_bench_cuda's JSON output into the Markdown tables of docs/benchmarks.md.

    python3 bench/cuda_table.py bench_cuda.json [gpu.txt]
"""
import json
import sys


def main():
    data = json.load(open(sys.argv[1]))
    if len(sys.argv) > 2:
        print("```\n" + open(sys.argv[2]).read().strip() + "\n```\n")
    rows = [b for b in data["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
    print("| kernel / shape | ours us | reference us | ratio ref/ours | GFLOP/s | of mode's peak | GB/s | of copy BW "
          "| reference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for b in rows:
        if b.get("error_occurred"):
            print(f"| {b['name']} | error: {b.get('error_message', '')} | | | | | | | |")
            continue

        def f(key, fmt="{:.1f}"):
            return fmt.format(b[key]) if key in b else ""

        print(f"| {b['name']} | {f('ours_us')} | {f('ref_us')} | {f('ratio', '{:.2f}')} | {f('GFLOPs', '{:.0f}')} | "
              f"{f('tflops_fraction', '{:.0%}')} | {f('GBs', '{:.0f}')} | {f('copy_fraction', '{:.0%}')} | "
              f"{b.get('label', '')} |")


if __name__ == "__main__":
    main()
