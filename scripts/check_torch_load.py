#!/usr/bin/python3
"""Loads a duel checkpoint's G.safetensors and D.safetensors (and G_ema.safetensors when the run
kept a moving average of G) into the equivalent torch.nn modules, built for the checkpoint's
configuration by scripts/torch_dcgan.py (the layer lists of gan/models.cpp for any image size,
width, upsampling and the conditional variant; D ends in the example's Sigmoid, which has no
state), with load_state_dict(strict=True), then runs G on a batch of latent vectors and checks
the images' shape.

    /usr/bin/python3 scripts/check_torch_load.py RUN_DIR/checkpoint
Exits 0 on success, 1 on a mismatch, 77 without torch (ctest: skipped).
"""
import json
import os
import sys

try:
    import numpy  # noqa: F401 - st_numpy needs it
    import torch
except ImportError:
    print("skipped: torch is not installed")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402
import torch_dcgan  # noqa: E402


def main():
    ckpt = sys.argv[1]
    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    g, d = torch_dcgan.build(cfg, sigmoid=True)
    g_ema, _ = torch_dcgan.build(cfg)
    files = [(g, "G.safetensors"), (d, "D.safetensors")]
    if os.path.exists(os.path.join(ckpt, "G_ema.safetensors")):
        files.append((g_ema, "G_ema.safetensors"))
    for module, file in files:
        arrays, _ = st_numpy.load(os.path.join(ckpt, file))
        state = {k: torch.from_numpy(v) for k, v in arrays.items()}
        module.load_state_dict(state, strict=True)  # raises on any missing, unexpected or mis-shaped key
        print(f"{file}: {len(state)} tensors loaded into torch {type(module).__name__} with strict=True")
    size = torch_dcgan.geometry(cfg)[0]
    g.eval()
    with torch.no_grad():
        z = torch.randn(2, int(cfg["nz"]), 1, 1)
        images = g(z, torch.zeros(2, dtype=torch.long)) if cfg["conditional"] else g(z)
        score = d(images if not cfg["conditional"] else torch.cat(
            [images, torch.zeros(2, int(cfg["num_classes"]), size, size)], 1))
    want = (2, int(cfg["channels"]), size, size)
    if tuple(images.shape) != want or tuple(score.shape) != (2, 1, 1, 1):
        print(f"G made {tuple(images.shape)} (want {want}), D scored {tuple(score.shape)} (want (2, 1, 1, 1))")
        return 1
    print(f"G makes {want[1]}x{size}x{size} images; D gives one score per image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
