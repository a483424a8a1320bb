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
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import st_numpy  # noqa: E402
from torch_train_step import models  # noqa: E402


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
    order, pos = torch.randperm(data.shape[0]), 0
    t0 = time.time()
    for step in range(1, steps + 1):
        for k in range(n_critic):
            if pos + args.batch > data.shape[0]:
                order, pos = torch.randperm(data.shape[0]), 0
            real = data[order[pos:pos + args.batch]]
            pos += args.batch
            z = torch.randn(args.batch, 100, 1, 1)
            if k + 1 == n_critic:
                fake = g(z)
            else:
                with torch.no_grad():
                    fake = g(z)
            opt_d.zero_grad(set_to_none=True)
            if wgan_gp:
                eps = torch.rand(args.batch, 1, 1, 1)
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
