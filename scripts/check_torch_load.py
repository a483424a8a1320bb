#!/usr/bin/python3
"""Loads a duel checkpoint's G.safetensors and D.safetensors into the equivalent torch.nn
modules (the layer lists of gan/models.cpp; dcgan64's D ends in the example's Sigmoid, which
has no state) with load_state_dict(strict=True).

    /usr/bin/python3 scripts/check_torch_load.py RUN_DIR/checkpoint
Exits 0 on success, 1 on a mismatch, 77 without torch (ctest: skipped).
"""
import json
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError:
    print("skipped: torch is not installed")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402


def critic_norm(kind, channels, size):
    return {"batchnorm": nn.BatchNorm2d(channels), "none": nn.Identity(),
            "layernorm": nn.LayerNorm([channels, size, size])}[kind]


def dcgan28(cfg):
    nz, c = cfg["nz"], cfg["channels"]
    g = nn.Sequential(
        nn.ConvTranspose2d(nz, 256, 7, 1, 0, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
        nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, c, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(
        nn.Conv2d(c, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), critic_norm(cfg["critic_norm"], 128, 7), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 1, 7, 1, 0, bias=False))
    return g, d


def dcgan64(cfg):
    nz, c, ngf, ndf = cfg["nz"], cfg["channels"], 64, 64
    g = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, c, 4, 2, 1, bias=False), nn.Tanh())
    n = cfg["critic_norm"]
    d = nn.Sequential(
        nn.Conv2d(c, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), critic_norm(n, ndf * 2, 16), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), critic_norm(n, ndf * 4, 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), critic_norm(n, ndf * 8, 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    return g, d


def main():
    ckpt = sys.argv[1]
    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    if cfg["conditional"]:
        print("conditional models are not checked here")
        return 0
    g, d = (dcgan28 if cfg["model"] == "dcgan28" else dcgan64)(cfg)
    for module, file in ((g, "G.safetensors"), (d, "D.safetensors")):
        arrays, _ = st_numpy.load(os.path.join(ckpt, file))
        state = {k: torch.from_numpy(v) for k, v in arrays.items()}
        module.load_state_dict(state, strict=True)  # raises on any missing, unexpected or mis-shaped key
        print(f"{file}: {len(state)} tensors loaded into torch.nn.Sequential with strict=True")
    return 0


if __name__ == "__main__":
    sys.exit(main())
