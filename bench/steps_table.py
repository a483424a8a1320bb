#!/usr/bin/env python3
"""Turns bench/torch_train_step.py --json output (one JSON object per line) into the Markdown
table of docs/benchmarks.md: one row per measurement of each configuration (PyTorch for each TF32
setting, eager and as a CUDA graph; duel for each math mode, eager and as a CUDA graph), with
ms per step, duel's kernels per step, and the ratios of PyTorch eager and PyTorch graphed (same
TF32 class: duel fp32 against TF32 off, tf32 and bf16 against TF32 on) to the row: above 1, the
row is faster. duel's rows also give the host's time to queue one step (host ms/step: for a
graph, one launch). Lines written before graphs were measured count as eager; a measurement the
run's time budget skipped, or that failed, is a row that says so; a dry run (the rehearsal on the
emulated device: kernels counted, not run) gets no ratios.

    python3 bench/steps_table.py steps.jsonl
"""
import json
import sys


def torch_class(math):
    """The PyTorch TF32 setting duel's math mode compares with."""
    return "off" if math == "fp32" else "on"


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: steps_table.py steps.jsonl")
    configs, order, wheres = {}, [], set()
    with open(sys.argv[1]) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"steps_table.py: {sys.argv[1]}:{n}: not JSON ({e})")
            key = (r["model"], r["loss"], r["batch"], r.get("device", ""))
            if key not in configs:
                configs[key] = []
                order.append(key)
            configs[key].append(r)
            if r["engine"] == "torch" and r.get("where"):
                wheres.add(f"{r['where']}, torch {r.get('version', '')}")

    head = ["model", "loss", "batch", "engine", "TF32 / math", "graph", "ms/step", "kernels/step",
            "host ms/step", "torch eager / this", "torch graph / this"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key in order:
        rows = configs[key]
        torch_ms = {}
        for r in rows:
            if r["engine"] == "torch" and "median_ms_per_step" in r:
                torch_ms[(r.get("tf32") or "-", r.get("torch_graph") or "off")] = r["median_ms_per_step"]
        for r in rows:
            torch = r["engine"] == "torch"
            if torch:
                setting = r.get("tf32") or "-"
                graph = r.get("torch_graph") or "off"
                cls = setting
            else:
                setting = r.get("math") or "default"
                graph = "on" if r.get("cuda_graph") else ("off" if "cuda_graph" in r else (r.get("duel_graph") or "off"))
                cls = torch_class(r.get("math")) if key[3] != "cpu" else "-"
            if r.get("dry_run"):
                graph += " (dry run)"
            cells = [key[0], key[1], str(key[2]), r["engine"], setting, graph]
            ms = r.get("median_ms_per_step")
            if ms is None:
                why = f"skipped: {r['skipped']}" if "skipped" in r else f"error: {r.get('error', '?')}"
                cells += [why, "", "", "", ""]
            else:
                cells.append(f"{ms:.3f}")
                cells.append(str(r["kernels_per_step"]) if "kernels_per_step" in r else "")
                host = r.get("host_ms_per_step")
                cells.append(f"{host:.3f}" if host is not None else "")
                for g in ("off", "on"):
                    t = None if r.get("dry_run") else torch_ms.get((cls, g))
                    cells.append(f"{t / ms:.2f}" if t else "")
            print("| " + " | ".join(cells) + " |")
    if wheres:
        print("\n" + "; ".join(sorted(wheres)))


if __name__ == "__main__":
    main()
