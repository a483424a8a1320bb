#!/usr/bin/python3
"""Writes the PyTorch golden files that tests/test_golden.cpp checks duel against.

Run from the repository root:  /usr/bin/python3 scripts/golden_torch.py
(Debian's python3-torch; the files are committed, so the C++ tests need no Python.)

Each file holds, per case, the inputs and PyTorch's outputs and gradients, named
"<case>.<tensor>", in float64 and float32 ("<case>" ends in _f64 or _f32); the attributes
of each case are in the metadata as JSON.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden")


def np_of(t):
    return t.detach().cpu().numpy().copy()  # a copy: in-place updates must not reach it


def leaf(shape, gen, dtype, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype).requires_grad_(True)


def conv_cases(gen):
    tensors, meta = {}, {}
    configs = [
        ("a", dict(x=(2, 3, 7, 6), w=(4, 3, 3, 2), stride=(2, 1), padding=(1, 0), bias=True)),
        ("b", dict(x=(3, 2, 8, 8), w=(5, 2, 4, 4), stride=(2, 2), padding=(1, 1), bias=False)),
    ]
    for name, c in configs:
        for dtype, suffix in ((torch.float64, "f64"), (torch.float32, "f32")):
            key = f"{name}_{suffix}"
            x, w = leaf(c["x"], gen, dtype), leaf(c["w"], gen, dtype)
            b = leaf((c["w"][0],), gen, dtype) if c["bias"] else None
            y = F.conv2d(x, w, b, stride=c["stride"], padding=c["padding"])
            gy = torch.randn(*y.shape, generator=gen, dtype=torch.float64).to(dtype)
            inputs = [x, w] + ([b] if b is not None else [])
            grads = torch.autograd.grad(y, inputs, gy)
            tensors.update({f"{key}.input": np_of(x), f"{key}.weight": np_of(w), f"{key}.grad_out": np_of(gy),
                            f"{key}.out": np_of(y), f"{key}.grad.input": np_of(grads[0]),
                            f"{key}.grad.weight": np_of(grads[1])})
            if b is not None:
                tensors[f"{key}.bias"] = np_of(b)
                tensors[f"{key}.grad.bias"] = np_of(grads[2])
            meta[key] = {"stride": list(c["stride"]), "padding": list(c["padding"])}
    st_numpy.save(os.path.join(OUT_DIR, "conv2d.safetensors"), tensors, {"cases": json.dumps(meta)})


def conv_transpose_cases(gen):
    tensors, meta = {}, {}
    configs = [
        ("a", dict(x=(2, 3, 3, 4), w=(3, 2, 4, 4), stride=(2, 2), padding=(1, 1), output_padding=(1, 0), bias=True)),
        ("latent", dict(x=(4, 6, 1, 1), w=(6, 5, 7, 7), stride=(1, 1), padding=(0, 0), output_padding=(0, 0), bias=False)),
    ]
    for name, c in configs:
        for dtype, suffix in ((torch.float64, "f64"), (torch.float32, "f32")):
            key = f"{name}_{suffix}"
            x, w = leaf(c["x"], gen, dtype), leaf(c["w"], gen, dtype)
            b = leaf((c["w"][1],), gen, dtype) if c["bias"] else None
            y = F.conv_transpose2d(x, w, b, stride=c["stride"], padding=c["padding"],
                                   output_padding=c["output_padding"])
            gy = torch.randn(*y.shape, generator=gen, dtype=torch.float64).to(dtype)
            inputs = [x, w] + ([b] if b is not None else [])
            grads = torch.autograd.grad(y, inputs, gy)
            tensors.update({f"{key}.input": np_of(x), f"{key}.weight": np_of(w), f"{key}.grad_out": np_of(gy),
                            f"{key}.out": np_of(y), f"{key}.grad.input": np_of(grads[0]),
                            f"{key}.grad.weight": np_of(grads[1])})
            if b is not None:
                tensors[f"{key}.bias"] = np_of(b)
                tensors[f"{key}.grad.bias"] = np_of(grads[2])
            meta[key] = {"stride": list(c["stride"]), "padding": list(c["padding"]),
                         "output_padding": list(c["output_padding"])}
    st_numpy.save(os.path.join(OUT_DIR, "conv_transpose2d.safetensors"), tensors, {"cases": json.dumps(meta)})


def batch_norm_cases(gen):
    tensors, meta = {}, {}
    for training in (True, False):
        for dtype, suffix in ((torch.float64, "f64"), (torch.float32, "f32")):
            key = f"{'train' if training else 'eval'}_{suffix}"
            x = leaf((4, 3, 5, 5), gen, dtype, scale=2.0)
            w, b = leaf((3,), gen, dtype), leaf((3,), gen, dtype)
            rm = torch.randn(3, generator=gen, dtype=torch.float64).to(dtype)
            rv = (torch.rand(3, generator=gen, dtype=torch.float64) + 0.5).to(dtype)
            tensors[f"{key}.running_mean"] = np_of(rm)
            tensors[f"{key}.running_var"] = np_of(rv)
            y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.1, eps=1e-5)
            gy = torch.randn(*y.shape, generator=gen, dtype=torch.float64).to(dtype)
            gx, gw, gb = torch.autograd.grad(y, [x, w, b], gy)
            tensors.update({f"{key}.input": np_of(x), f"{key}.weight": np_of(w), f"{key}.bias": np_of(b),
                            f"{key}.grad_out": np_of(gy), f"{key}.out": np_of(y),
                            f"{key}.grad.input": np_of(gx), f"{key}.grad.weight": np_of(gw),
                            f"{key}.grad.bias": np_of(gb),
                            f"{key}.running_mean_after": np_of(rm), f"{key}.running_var_after": np_of(rv)})
            meta[key] = {"training": training, "momentum": 0.1, "eps": 1e-5}
    st_numpy.save(os.path.join(OUT_DIR, "batch_norm.safetensors"), tensors, {"cases": json.dumps(meta)})


def wgan_gp_cases(gen):
    """The WGAN-GP gradient penalty of a tiny conv critic and its gradient wrt the critic's weights.

    critic(x) = conv2d(leaky_relu(conv2d(x, w1, b1, stride 2, padding 1), 0.2), w2, b2)
    x_hat = eps * real + (1 - eps) * fake
    gp = mean((||d critic(x_hat) / d x_hat||_2 - 1)^2)   (norm over C, H, W of each sample)
    """
    tensors, meta = {}, {}
    for dtype, suffix in ((torch.float64, "f64"), (torch.float32, "f32")):
        key = f"critic_{suffix}"
        real = torch.randn(3, 1, 8, 8, generator=gen, dtype=torch.float64).to(dtype)
        fake = torch.randn(3, 1, 8, 8, generator=gen, dtype=torch.float64).to(dtype)
        eps = torch.rand(3, 1, 1, 1, generator=gen, dtype=torch.float64).to(dtype)
        w1, b1 = leaf((4, 1, 4, 4), gen, dtype, 0.3), leaf((4,), gen, dtype, 0.1)
        w2, b2 = leaf((1, 4, 4, 4), gen, dtype, 0.3), leaf((1,), gen, dtype, 0.1)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        d = F.conv2d(F.leaky_relu(F.conv2d(x_hat, w1, b1, stride=2, padding=1), 0.2), w2, b2)
        (g,) = torch.autograd.grad(d.sum(), x_hat, create_graph=True)
        norm = g.flatten(1).norm(2, dim=1)
        gp = ((norm - 1) ** 2).mean()
        # b2 shifts the critic's output but not its input gradient: it has no gradient here.
        grads = torch.autograd.grad(gp, [w1, b1, w2])
        tensors.update({f"{key}.real": np_of(real), f"{key}.fake": np_of(fake), f"{key}.eps": np_of(eps),
                        f"{key}.w1": np_of(w1), f"{key}.b1": np_of(b1), f"{key}.w2": np_of(w2),
                        f"{key}.b2": np_of(b2), f"{key}.critic_out": np_of(d), f"{key}.grad_x_hat": np_of(g),
                        f"{key}.gp": np_of(gp), f"{key}.grad.w1": np_of(grads[0]), f"{key}.grad.b1": np_of(grads[1]),
                        f"{key}.grad.w2": np_of(grads[2])})
        meta[key] = {"leaky_slope": 0.2}
    st_numpy.save(os.path.join(OUT_DIR, "wgan_gp.safetensors"), tensors, {"cases": json.dumps(meta)})


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    torch.set_num_threads(1)
    conv_cases(torch.Generator().manual_seed(1))
    conv_transpose_cases(torch.Generator().manual_seed(2))
    batch_norm_cases(torch.Generator().manual_seed(3))
    wgan_gp_cases(torch.Generator().manual_seed(4))
    print(f"wrote golden files to {os.path.normpath(OUT_DIR)} with torch {torch.__version__}")


if __name__ == "__main__":
    main()
