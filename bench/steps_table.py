#!/usr/bin/env python3
"""Turns bench/torch_train_step.py --json output (one JSON object per line) into the Markdown
table of docs/benchmarks.md: per configuration, PyTorch's ms per step for each TF32 setting,
duel's for each math mode, and the ratios torch/duel (above 1: duel is faster).

    python3 bench/steps_table.py steps.jsonl
"""
import json
import sys


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: steps_table.py steps.jsonl")
    rows, order = {}, []
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
            if key not in rows:
                rows[key] = {"torch": {}, "duel": {}, "where": ""}
                order.append(key)
            entry = rows[key]
            if r["engine"] == "torch":
                entry["torch"][r.get("tf32") or "-"] = r["median_ms_per_step"]
                entry["where"] = f"{r.get('where', '')}, torch {r.get('version', '')}"
            else:
                entry["duel"][r.get("math") or "default"] = r.get("median_ms_per_step", r.get("error", "?"))
    torch_modes = sorted({m for e in rows.values() for m in e["torch"]})
    duel_modes = sorted({m for e in rows.values() for m in e["duel"]})
    def torch_name(m):
        return "torch" if m == "-" else f"torch tf32 {m}"

    def duel_name(m):
        return "duel" if m == "default" else f"duel {m}"

    head = ["model", "loss", "batch"] + [f"{torch_name(m)} ms" for m in torch_modes] \
        + [f"{duel_name(m)} ms" for m in duel_modes] \
        + [f"{torch_name(t)} / {duel_name(d)}" for d in duel_modes for t in torch_modes]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key in order:
        e = rows[key]
        cells = [key[0], key[1], str(key[2])]
        cells += [f"{e['torch'][m]:.2f}" if m in e["torch"] else "" for m in torch_modes]
        for m in duel_modes:
            v = e["duel"].get(m, "")
            cells.append(f"{v:.2f}" if isinstance(v, float) else f"error: {v}" if v else "")
        for d in duel_modes:
            for t in torch_modes:
                dv, tv = e["duel"].get(d), e["torch"].get(t)
                cells.append(f"{tv / dv:.2f}" if isinstance(dv, float) and tv else "")
        print("| " + " | ".join(cells) + " |")
    wheres = sorted({e["where"] for e in rows.values() if e["where"]})
    if wheres:
        print("\n" + "; ".join(wheres))


if __name__ == "__main__":
    main()
