#!/usr/bin/python3
"""Golden values for training: 5 iterations of dcgan28 with the ns and the wgan-gp losses in
PyTorch, as `duel step` runs one (see cli/cmd_step.cpp), in float64 and float32.

Run from the repository root:  /usr/bin/python3 scripts/golden_train_torch.py
Writes tests/golden/train_ns.safetensors and tests/golden/train_wgan_gp.safetensors.

Starting weights and every input (real images, z, eps) come from a counter-based hash that
tests/train_inputs.h implements identically in C++, so nothing but the expected values has to
be stored. The expected values: loss_D, loss_G (and gp) at every iteration; after the 5th,
every gradient the updates used and every parameter and buffer, each as its L2 norm and sum
plus an evenly strided sample of at most 2048 elements (the tensors are too large to commit).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden")
BATCH, NZ, ITERATIONS, SAMPLE = 8, 100, 5, 2048
MASK = (1 << 64) - 1


def hashed_uniform(n, salt):
    """[0, 1) from splitmix64 of (index, salt): the same in tests/train_inputs.h."""
    u64 = np.uint64
    x = np.arange(n, dtype=u64) * u64(0x9E3779B97F4A7C15) + u64(((salt + 1) * 0xD1B54A32D192ED03) & MASK)
    x ^= x >> u64(30)
    x *= u64(0xBF58476D1CE4E5B9)
    x ^= x >> u64(27)
    x *= u64(0x94D049BB133111EB)
    x ^= x >> u64(31)
    return (x >> u64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def hashed_tensor(shape, salt, lo, hi, dtype):
    n = int(np.prod(shape)) if len(shape) else 1
    u = hashed_uniform(n, salt)
    return torch.from_numpy(lo + (hi - lo) * u).reshape(shape).to(dtype)


def dcgan28(critic_norm):
    g = nn.Sequential(
        nn.ConvTranspose2d(NZ, 256, 7, 1, 0, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
        nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 1, 4, 2, 1, bias=False), nn.Tanh())
    norm = nn.BatchNorm2d(128) if critic_norm == "batchnorm" else nn.Identity()
    d = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), norm, nn.LeakyReLU(0.2),
        nn.Conv2d(128, 1, 7, 1, 0, bias=False))
    return g, d


def init_from_hash(module, salt_base, dtype):
    """Weights ~ U with std 0.02 (DCGAN's scale); batch-norm weight around 1, bias 0. The salt of
    each tensor is its position in state_dict order."""
    half_width = 0.02 * np.sqrt(3.0)
    with torch.no_grad():
        for k, (name, t) in enumerate(module.state_dict().items()):
            if name.endswith("num_batches_tracked") or "running_" in name:
                continue
            is_bn = t.dim() == 1
            if is_bn and name.endswith("bias"):
                t.zero_()
            elif is_bn:
                t.copy_(hashed_tensor(tuple(t.shape), salt_base + k, 1 - half_width, 1 + half_width, dtype))
            else:
                t.copy_(hashed_tensor(tuple(t.shape), salt_base + k, -half_width, half_width, dtype))


def inputs(iteration, dtype):
    base = 1000 + 10 * iteration
    real = hashed_tensor((BATCH, 1, 28, 28), base, -1.0, 1.0, dtype)
    z = hashed_tensor((BATCH, NZ, 1, 1), base + 1, -1.7320508075688772, 1.7320508075688772, dtype)
    eps = hashed_tensor((BATCH, 1, 1, 1), base + 2, 0.0, 1.0, dtype)
    return real, z, eps


def summarize(prefix, tensors, out):
    for name, t in tensors.items():
        a = t.detach().cpu().numpy()
        if a.dtype == np.int64:
            out[f"{prefix}{name}"] = a.copy()
            continue
        flat = a.reshape(-1).astype(np.float64)
        stride = max(1, flat.size // SAMPLE)
        out[f"{prefix}{name}.sample"] = flat[::stride][:SAMPLE].copy()
        out[f"{prefix}{name}.norm"] = np.array([np.sqrt((flat ** 2).sum()), flat.sum()])


def run(loss, dtype):
    torch.manual_seed(0)
    g, d = dcgan28("batchnorm" if loss == "ns" else "none")
    g, d = g.to(dtype), d.to(dtype)
    init_from_hash(g, 100, dtype)
    init_from_hash(d, 200, dtype)
    if loss == "ns":
        opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    else:
        opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.0, 0.9))
        opt_d = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.0, 0.9))
    losses_d, losses_g, gps = [], [], []
    for it in range(ITERATIONS):
        real, z, eps = inputs(it, dtype)
        fake = g(z)
        opt_d.zero_grad()
        if loss == "ns":
            out_real = d(real).view(-1)
            err_real = F.binary_cross_entropy_with_logits(out_real, torch.ones_like(out_real))
            out_fake = d(fake.detach()).view(-1)
            err_fake = F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))
            err_d = err_real + err_fake
        else:
            d_fake = d(fake.detach()).view(-1)
            d_real = d(real).view(-1)
            x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
            (grad_x,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
            norm = torch.sqrt((grad_x ** 2).sum(dim=(1, 2, 3)) + 1e-12)
            gp = ((norm - 1) ** 2).mean()
            err_d = d_fake.mean() - d_real.mean() + 10 * gp
            gps.append(gp.item())
        err_d.backward()
        d_grads = {n: p.grad.clone() for n, p in d.named_parameters()}
        opt_d.step()
        opt_g.zero_grad()
        out = d(fake).view(-1)
        if loss == "ns":
            err_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        else:
            err_g = -out.mean()
        err_g.backward()
        g_grads = {n: p.grad.clone() for n, p in g.named_parameters()}
        opt_g.step()
        losses_d.append(err_d.item())
        losses_g.append(err_g.item())
    tag = "f64" if dtype == torch.float64 else "f32"
    out = {f"{tag}.loss_D": np.array(losses_d), f"{tag}.loss_G": np.array(losses_g)}
    if gps:
        out[f"{tag}.gp"] = np.array(gps)
    summarize(f"{tag}.D.grad.", d_grads, out)
    summarize(f"{tag}.G.grad.", g_grads, out)
    summarize(f"{tag}.D.", d.state_dict(), out)
    summarize(f"{tag}.G.", g.state_dict(), out)
    return out


def main():
    torch.set_num_threads(1)
    for loss, file in (("ns", "train_ns.safetensors"), ("wgan-gp", "train_wgan_gp.safetensors")):
        tensors = {}
        for dtype in (torch.float64, torch.float32):
            tensors.update(run(loss, dtype))
        st_numpy.save(os.path.join(OUT_DIR, file), tensors,
                      {"loss": loss, "batch": str(BATCH), "iterations": str(ITERATIONS), "torch": torch.__version__})
        print(f"{file}: loss_D f64 {tensors['f64.loss_D']}, loss_G f64 {tensors['f64.loss_G']}")


if __name__ == "__main__":
    main()
