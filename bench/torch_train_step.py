#!/usr/bin/python3
"""The same GAN training step as `duel bench step`, in PyTorch on the CPU, for a side-by-side
comparison on one machine. Prints median ms per step and images/s, then runs `duel bench step`
with the same settings and prints the ratio (torch ms / duel ms; above 1, duel is faster).

    /usr/bin/python3 bench/torch_train_step.py --model dcgan28 --loss ns --batch 64 [--threads 2]
"""
import argparse
import json
import os
import subprocess
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def models(name, critic_norm):
    if name == "dcgan28":
        g = nn.Sequential(
            nn.ConvTranspose2d(100, 256, 7, 1, 0, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
            nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 1, 4, 2, 1, bias=False), nn.Tanh())
        norm = nn.BatchNorm2d(128) if critic_norm == "batchnorm" else nn.Identity()
        d = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), norm, nn.LeakyReLU(0.2),
            nn.Conv2d(128, 1, 7, 1, 0, bias=False))
        return g, d, 1, 28
    ngf = ndf = 64
    g = nn.Sequential(
        nn.ConvTranspose2d(100, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(),
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


def train_step(g, d, opt_g, opt_d, next_real, batch, wgan_gp, n_critic):
    """One duel-style step: n_critic critic updates (the last one's fake batch keeps G's graph),
    then the generator update through the updated critic. Returns (loss_D, loss_G)."""
    for k in range(n_critic):
        real = next_real()
        z = torch.randn(batch, 100, 1, 1)
        if k + 1 == n_critic:
            fake = g(z)
        else:
            with torch.no_grad():
                fake = g(z)
        opt_d.zero_grad(set_to_none=True)
        if wgan_gp:
            eps = torch.rand(batch, 1, 1, 1)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="dcgan28")
    ap.add_argument("--loss", default="ns", choices=["ns", "wgan-gp"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--duel", default=os.path.join(HERE, "..", "build", "duel"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    wgan_gp = args.loss == "wgan-gp"
    g, d, c, s = models(args.model, "none" if wgan_gp else "batchnorm")
    lr, betas, n_critic = (1e-4, (0.0, 0.9), 5) if wgan_gp else (2e-4, (0.5, 0.999), 1)
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=betas)
    real = torch.rand(args.batch, c, s, s) * 2 - 1
    times = []
    for it in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        train_step(g, d, opt_g, opt_d, lambda: real, args.batch, wgan_gp, n_critic)
        if it >= args.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    torch_ms = times[len(times) // 2]
    out = subprocess.run([args.duel, "bench", "step", "--model", args.model, "--loss", args.loss, "--batch",
                          str(args.batch), "--threads", str(args.threads), "--steps", str(args.steps), "--warmup",
                          str(args.warmup), "--json"], capture_output=True, text=True, check=True).stdout
    duel_ms = json.loads(out)["median_ms_per_step"]
    imgs = args.batch * n_critic
    print(f"{args.model} {args.loss} batch {args.batch}, {args.threads} thread(s), torch {torch.__version__}")
    print(f"  torch: {torch_ms:8.1f} ms/step  {imgs / torch_ms * 1e3:7.0f} images/s")
    print(f"  duel:  {duel_ms:8.1f} ms/step  {imgs / duel_ms * 1e3:7.0f} images/s")
    print(f"  ratio torch/duel: {torch_ms / duel_ms:.2f}")


if __name__ == "__main__":
    main()
