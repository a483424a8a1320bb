#!/usr/bin/python3
"""The same dcgan28 training as `duel train` in PyTorch (same architecture, DCGAN initialisation,
losses, optimiser settings, batch and number of steps), saved as a duel checkpoint so that
`duel eval --fake checkpoint:DIR` judges both generators with one yardstick.

    /usr/bin/python3 bench/torch_train_fid.py --loss ns --epochs 1 --out runs/torch-dcgan28-ns
    build/duel eval --fake checkpoint:runs/torch-dcgan28-ns --n 10000
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import st_numpy  # noqa: E402
from torch_train_step import models, train_step  # noqa: E402


def load_images(path):
    with gzip.open(path) as f:
        data = f.read()
    return np.frombuffer(data[16:], np.uint8).reshape(-1, 1, 28, 28).astype(np.float32) / 127.5 - 1


def dcgan_init(m):
    if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, torch.nn.BatchNorm2d):
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--loss", default="ns", choices=["ns", "wgan-gp"])
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    wgan_gp = args.loss == "wgan-gp"
    g, d, _, _ = models("dcgan28", "none" if wgan_gp else "batchnorm")
    g.apply(dcgan_init)
    d.apply(dcgan_init)
    lr, betas, n_critic = (1e-4, (0.0, 0.9), 5) if wgan_gp else (2e-4, (0.5, 0.999), 1)
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=betas)
    data = torch.from_numpy(load_images("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    per_epoch = data.shape[0] // args.batch
    steps = args.steps or max(1, int(args.epochs * per_epoch / n_critic))
    order = torch.randperm(data.shape[0])
    t0 = time.time()
    pos = 0

    def next_real():  # a new permutation each epoch; the last incomplete batch is dropped
        nonlocal order, pos
        if pos + args.batch > data.shape[0]:
            order, pos = torch.randperm(data.shape[0]), 0
        pos += args.batch
        return data[order[pos - args.batch:pos]]

    for step in range(1, steps + 1):
        loss_d, loss_g = train_step(g, d, opt_g, opt_d, next_real, args.batch, wgan_gp, n_critic)
        if step % 100 == 0 or step == steps:
            print(f"step {step}/{steps} loss_D {loss_d.item():.4f} loss_G {loss_g.item():.4f} "
                  f"{step / (time.time() - t0):.2f} it/s", flush=True)
    ckpt = os.path.join(args.out, "checkpoint")
    os.makedirs(ckpt, exist_ok=True)
    for module, name in ((g, "G"), (d, "D")):
        st_numpy.save(os.path.join(ckpt, f"{name}.safetensors"),
                      {k: v.detach().numpy() for k, v in module.state_dict().items()})
    config = {"format": "duel-train-config-1", "model": "dcgan28", "critic_norm": "none" if wgan_gp else "batchnorm",
              "conditional": False, "channels": 1, "nz": 100, "num_classes": 10, "loss": args.loss, "lr_g": lr,
              "lr_d": lr, "beta1": betas[0], "beta2": betas[1], "n_critic": n_critic, "gp_lambda": 10.0, "clip": 0.01,
              "data": "fashion-mnist", "batch": args.batch, "seed": args.seed, "steps": steps, "log_every": 100,
              "sample_every": 0, "checkpoint_every": 0, "device": "cpu", "trained_by": f"torch {torch.__version__}",
              "seconds": time.time() - t0}
    with open(os.path.join(ckpt, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"wrote {ckpt} after {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
