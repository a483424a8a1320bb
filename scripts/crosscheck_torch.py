#!/usr/bin/python3
"""Cross-checks `duel op` against torch.nn.functional on random shapes: forward values and gradients.

Run from anywhere (Debian's python3-torch; the pyenv python on PATH has no torch):
    /usr/bin/python3 scripts/crosscheck_torch.py [--trials N] [--seed S] [--ops a,b] [--json]
                                                 [--duel PATH] [--keep DIR] [--cpu-path fast|reference]

For every op of `duel op` (all 39), in float64 and float32, each trial draws random shapes and
attributes (odd sizes, broadcasting patterns, strides/paddings/output_padding, dims/keepdim,
transpose flags, ...) and inputs kept in the op's domain and away from kinks, runs
`duel op NAME --backward` once (forward value and the gradient of every differentiable input with a
random grad_out) and computes the same with PyTorch in the same dtype. The *_backward ops are
checked against torch.autograd.grad of their forward op (created with create_graph=True, so their
own gradients come from double differentiation). batch_norm's updated running statistics are
compared as well.

Every tensor is compared as  max|duel - torch| / max(max|torch|, tiny)  and must be <= 1e-9 in
float64 and <= 2e-4 in float32; shapes must match, and duel must have no NaN where torch has none.

Exit status: 0 all pass, 1 any failure, 77 when torch cannot be imported (ctest: skipped).
"""
import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
import zlib

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001 - any import failure means "no torch here"
    print(f"crosscheck_torch: cannot import numpy or torch ({e}); skipped", file=sys.stderr)
    sys.exit(77)

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPT_DIR)
import st_numpy  # noqa: E402

TOLERANCE = {"f64": 1e-9, "f32": 2e-4}
NP_DTYPE = {"f64": np.float64, "f32": np.float32}
BUFFERS = ("running_mean", "running_var")  # updated in place, not differentiable


# ---------------------------------------------------------------------------------------------
# Random drawing helpers
# ---------------------------------------------------------------------------------------------

class Case:
    """One random instance of an op: inputs (float64 masters or int64 indices), string attributes
    for the command line, and `ref(tensors)` computing the output with torch."""

    def __init__(self, inputs, attrs, ref, label):
        self.inputs, self.attrs, self.ref, self.label = inputs, attrs, ref, label


def size(rng, lo=1, hi=7):
    return int(rng.integers(lo, hi + 1))


def rand_shape(rng, min_dims=0, max_dims=4, lo=1, hi=6):
    return [size(rng, lo, hi) for _ in range(size(rng, min_dims, max_dims))]


def sub_broadcast(rng, shape, p_one=0.35):
    """A shape that broadcasts to `shape`: some leading dims dropped, some sizes set to 1."""
    k = int(rng.integers(0, len(shape) + 1)) if rng.random() < 0.5 else 0
    return [1 if rng.random() < p_one else s for s in shape[k:]]


def normal(rng, shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def uniform(rng, shape, lo, hi):
    return rng.uniform(lo, hi, shape)


def signed(rng, shape, lo, hi):
    """|x| in [lo, hi], random sign: away from 0."""
    return uniform(rng, shape, lo, hi) * np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def avoiding(rng, shape, lo, hi, points, margin):
    """Uniform in [lo, hi], moved at least `margin` away from each of `points`."""
    x = np.asarray(uniform(rng, shape, lo, hi), dtype=np.float64)
    for p in points:
        near = np.abs(x - p) < margin
        x = np.where(near, np.where(x < p, p - margin, p + margin), x)
    return x


def pair_attr(rng, a, b, default=None):
    """The command-line form of a (height, width) pair; None (omit it) for the default."""
    if default is not None and a == default and b == default and rng.random() < 0.5:
        return None
    return f"{a}" if a == b and rng.random() < 0.5 else f"{a},{b}"


def real_attr(x):
    return repr(float(x))


def with_attrs(attrs):
    return {k: v for k, v in attrs.items() if v is not None}


def dims_str(dims):
    return ",".join(str(d) for d in dims)


# ---------------------------------------------------------------------------------------------
# The ops
# ---------------------------------------------------------------------------------------------

def binary(fn, nonzero_other):
    def gen(rng):
        out = rand_shape(rng, 0, 4)
        pattern = rng.integers(0, 4)
        if pattern == 0:  # same shape
            a, b = list(out), list(out)
        elif pattern == 1:  # one side a scalar
            a, b = (list(out), []) if rng.random() < 0.5 else ([], list(out))
        else:  # mixed broadcasting on both sides
            a, b = sub_broadcast(rng, out), sub_broadcast(rng, out)
        other = signed(rng, b, 0.5, 2.0) if nonzero_other else normal(rng, b)
        return Case({"input": normal(rng, a), "other": other}, {}, lambda t: fn(t["input"], t["other"]),
                    f"{a} . {b}")
    return gen


def unary(fn, draw):
    def gen(rng):
        s = rand_shape(rng, 0, 4)
        return Case({"input": draw(rng, s)}, {}, lambda t: fn(t["input"]), f"{s}")
    return gen


def gen_pow(rng):
    s = rand_shape(rng, 0, 4)
    e = float(rng.choice([2, 3, -1, -2, 0.5, -0.5, 0.7, 1.5, 1, 0, 2.5]))
    if e == int(e) and rng.random() < 0.5:
        x = signed(rng, s, 0.2, 2.0)  # integer exponents: negative bases too
    else:
        x = uniform(rng, s, 0.2, 2.5)
    return Case({"input": x}, {"exponent": real_attr(e)}, lambda t: torch.pow(t["input"], e), f"{s} e={e}")


def clamp_bounds(rng):
    lo = round(float(rng.uniform(-1.2, -0.1)), 3)
    hi = round(float(rng.uniform(0.1, 1.2)), 3)
    which = rng.integers(0, 3)
    return (lo if which != 2 else None), (hi if which != 1 else None)


def clamp_input(rng, s, lo, hi):
    pts = [p for p in (lo, hi) if p is not None]
    return avoiding(rng, s, -1.6, 1.6, pts, 0.03)


def gen_clamp(rng):
    s = rand_shape(rng, 0, 4)
    lo, hi = clamp_bounds(rng)
    attrs = with_attrs({"min": None if lo is None else real_attr(lo), "max": None if hi is None else real_attr(hi)})
    return Case({"input": clamp_input(rng, s, lo, hi)}, attrs,
                lambda t: torch.clamp(t["input"], lo, hi), f"{s} min={lo} max={hi}")


def gen_clamp_backward(rng):
    s = rand_shape(rng, 0, 4)
    lo, hi = clamp_bounds(rng)
    attrs = with_attrs({"min": None if lo is None else real_attr(lo), "max": None if hi is None else real_attr(hi)})

    def ref(t):
        (g,) = torch.autograd.grad(torch.clamp(t["input"], lo, hi), t["input"], t["grad_output"], create_graph=True)
        return g
    return Case({"grad_output": normal(rng, s), "input": clamp_input(rng, s, lo, hi)}, attrs, ref,
                f"{s} min={lo} max={hi}")


def slope_attr(rng):
    r = rng.integers(0, 4)
    if r == 0:
        return 0.01, None  # the default
    s = round(float(rng.uniform(0.05, 0.5) if r < 3 else rng.uniform(-0.5, 1.5)), 3)
    return s, real_attr(s)


def gen_leaky_relu(rng):
    s = rand_shape(rng, 0, 4)
    slope, a = slope_attr(rng)
    return Case({"input": signed(rng, s, 0.05, 2.0)}, with_attrs({"negative_slope": a}),
                lambda t: F.leaky_relu(t["input"], slope), f"{s} slope={slope}")


def gen_leaky_relu_backward(rng):
    s = rand_shape(rng, 0, 4)
    slope, a = slope_attr(rng)

    def ref(t):
        (g,) = torch.autograd.grad(F.leaky_relu(t["input"], slope), t["input"], t["grad_output"],
                                   create_graph=True)
        return g
    return Case({"grad_output": normal(rng, s), "input": signed(rng, s, 0.05, 2.0)},
                with_attrs({"negative_slope": a}), ref, f"{s} slope={slope}")


def gen_softplus(rng):
    s = rand_shape(rng, 0, 4)
    beta = float(rng.choice([1.0, 2.0, 0.5, 1.7]))
    threshold = float(rng.choice([20.0, 1.0, 2.5, 5.0]))
    attrs = with_attrs({"beta": None if beta == 1.0 and rng.random() < 0.5 else real_attr(beta),
                        "threshold": None if threshold == 20.0 and rng.random() < 0.5 else real_attr(threshold)})
    # Inputs on both sides of the switch to the linear branch, away from it (beta*x == threshold).
    x = avoiding(rng, s, -6.0, threshold / beta + 4.0, [threshold / beta], 0.05)
    return Case({"input": x}, attrs, lambda t: F.softplus(t["input"], beta, threshold),
                f"{s} beta={beta} threshold={threshold}")


def gen_log_softmax(rng):
    s = rand_shape(rng, 1, 4)
    dim = int(rng.integers(-len(s), len(s)))
    return Case({"input": normal(rng, s, 3.0)}, {"dim": str(dim)},
                lambda t: F.log_softmax(t["input"], dim), f"{s} dim={dim}")


def reduction_gen(name):
    def gen(rng):
        s = rand_shape(rng, 0, 4)
        nd = len(s)
        dims = []
        if nd and rng.random() < 0.8:
            k = size(rng, 1, nd)
            dims = sorted(int(d) for d in rng.choice(nd, size=k, replace=False))
            dims = [d - nd if rng.random() < 0.3 else d for d in dims]
            rng.shuffle(dims)
        keepdim = bool(rng.random() < 0.5)
        attrs = with_attrs({"dim": dims_str(dims) if dims or rng.random() < 0.5 else None,
                            "keepdim": ("1" if keepdim else ("0" if rng.random() < 0.5 else None))})

        def ref(t):
            x = t["input"]
            f = torch.sum if name == "sum" else torch.mean
            if not dims:  # all elements
                y = f(x)
                return y.reshape([1] * nd) if keepdim else y
            return f(x, dim=dims, keepdim=keepdim)
        return Case({"input": normal(rng, s)}, attrs, ref, f"{s} dim={dims} keepdim={int(keepdim)}")
    return gen


def divisors(n):
    return [d for d in range(2, n + 1) if n % d == 0]


def gen_reshape(rng):
    s = rand_shape(rng, 0, 4)
    n = int(np.prod(s)) if s else 1
    target, rem = [], n
    while rem > 1 and rng.random() < 0.75:
        d = int(rng.choice(divisors(rem)))
        target.append(d)
        rem //= d
    if rem > 1 or not target:
        target.append(rem)
    for _ in range(int(rng.integers(0, 2))):
        target.insert(int(rng.integers(0, len(target) + 1)), 1)
    target = [int(v) for v in rng.permutation(target)]
    if rng.random() < 0.5:
        target[int(rng.integers(0, len(target)))] = -1
    return Case({"input": normal(rng, s)}, {"shape": dims_str(target)},
                lambda t: t["input"].reshape(target), f"{s} -> {target}")


def gen_broadcast_to(rng):
    out = rand_shape(rng, 1, 4)
    s = sub_broadcast(rng, out, 0.5)
    return Case({"input": normal(rng, s)}, {"size": dims_str(out)},
                lambda t: torch.broadcast_to(t["input"], out), f"{s} -> {out}")


def gen_cat(rng):
    nd = size(rng, 1, 4)
    base = rand_shape(rng, nd, nd, 1, 5)
    dim = int(rng.integers(-nd, nd))
    shapes = []
    for _ in range(size(rng, 1, 4)):
        s = list(base)
        s[dim] = size(rng, 1, 4)
        shapes.append(s)
    inputs = {f"tensors.{i}": normal(rng, s) for i, s in enumerate(shapes)}
    attrs = with_attrs({"dim": None if dim == 0 and rng.random() < 0.5 else str(dim)})
    return Case(inputs, attrs, lambda t: torch.cat([t[f"tensors.{i}"] for i in range(len(shapes))], dim),
                f"{shapes} dim={dim}")


def gen_narrow(rng):
    s = rand_shape(rng, 1, 4, 1, 7)
    nd = len(s)
    dim = int(rng.integers(-nd, nd))
    n = s[dim]
    start = int(rng.integers(0, n))
    length = int(rng.integers(1, n - start + 1))
    return Case({"input": normal(rng, s)}, {"dim": str(dim), "start": str(start), "length": str(length)},
                lambda t: torch.narrow(t["input"], dim, start, length), f"{s} dim={dim} {start}+{length}")


def gen_matmul(rng):
    m, k, n = size(rng), size(rng), size(rng)
    batch = [size(rng, 1, 4)] if rng.random() < 0.4 else []
    ta, tb = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    a = batch + ([k, m] if ta else [m, k])
    b = batch + ([n, k] if tb else [k, n])
    attrs = with_attrs({"transpose_a": "1" if ta else ("0" if rng.random() < 0.5 else None),
                        "transpose_b": "1" if tb else ("0" if rng.random() < 0.5 else None)})

    def ref(t):
        x, y = t["input"], t["other"]
        return torch.matmul(x.transpose(-1, -2) if ta else x, y.transpose(-1, -2) if tb else y)
    return Case({"input": normal(rng, a), "other": normal(rng, b)}, attrs, ref, f"{a} ta={int(ta)} {b} tb={int(tb)}")


def gen_linear(rng):
    fin, fout = size(rng), size(rng)
    lead = rand_shape(rng, 0, 2, 1, 5)
    inputs = {"input": normal(rng, lead + [fin]), "weight": normal(rng, [fout, fin])}
    if rng.random() < 0.6:
        inputs["bias"] = normal(rng, [fout])
    return Case(inputs, {}, lambda t: F.linear(t["input"], t["weight"], t.get("bias")),
                f"x{lead + [fin]} w[{fout},{fin}] bias={'bias' in inputs}")


def conv_geometry(rng):
    kh, kw = size(rng, 1, 5), size(rng, 1, 5)
    sh, sw = size(rng, 1, 3), size(rng, 1, 3)
    ph, pw = int(rng.integers(0, kh)), int(rng.integers(0, kw))
    h = size(rng, max(1, kh - 2 * ph), kh + 6)
    w = size(rng, max(1, kw - 2 * pw), kw + 6)
    return (kh, kw), (sh, sw), (ph, pw), (h, w)


def conv_attrs(rng, stride, padding):
    return with_attrs({"stride": pair_attr(rng, *stride, default=1), "padding": pair_attr(rng, *padding, default=0)})


def gen_conv2d(rng):
    (kh, kw), stride, padding, (h, w) = conv_geometry(rng)
    n, cin, cout = size(rng, 1, 3), size(rng, 1, 4), size(rng, 1, 4)
    inputs = {"input": normal(rng, [n, cin, h, w]), "weight": normal(rng, [cout, cin, kh, kw])}
    if rng.random() < 0.6:
        inputs["bias"] = normal(rng, [cout])
    return Case(inputs, conv_attrs(rng, stride, padding),
                lambda t: F.conv2d(t["input"], t["weight"], t.get("bias"), stride, padding),
                f"x[{n},{cin},{h},{w}] w[{cout},{cin},{kh},{kw}] s={stride} p={padding} bias={'bias' in inputs}")


def gen_conv_transpose2d(rng):
    while True:
        kh, kw = size(rng, 1, 5), size(rng, 1, 5)
        stride = (size(rng, 1, 3), size(rng, 1, 3))
        padding = (int(rng.integers(0, kh)), int(rng.integers(0, kw)))
        opad = (int(rng.integers(0, stride[0])), int(rng.integers(0, stride[1])))
        h, w = size(rng, 1, 5), size(rng, 1, 5)
        if (h - 1) * stride[0] - 2 * padding[0] + kh + opad[0] > 0 and \
                (w - 1) * stride[1] - 2 * padding[1] + kw + opad[1] > 0:
            break
    n, cin, cout = size(rng, 1, 3), size(rng, 1, 4), size(rng, 1, 4)
    inputs = {"input": normal(rng, [n, cin, h, w]), "weight": normal(rng, [cin, cout, kh, kw])}
    if rng.random() < 0.6:
        inputs["bias"] = normal(rng, [cout])
    attrs = conv_attrs(rng, stride, padding)
    op = pair_attr(rng, *opad, default=0)
    if op is not None:
        attrs["output_padding"] = op
    return Case(inputs, attrs,
                lambda t: F.conv_transpose2d(t["input"], t["weight"], t.get("bias"), stride, padding, opad),
                f"x[{n},{cin},{h},{w}] w[{cin},{cout},{kh},{kw}] s={stride} p={padding} op={opad} "
                f"bias={'bias' in inputs}")


def gen_conv2d_weight_grad(rng):
    (kh, kw), stride, padding, (h, w) = conv_geometry(rng)
    n, cin, cout = size(rng, 1, 3), size(rng, 1, 4), size(rng, 1, 4)
    ho = (h + 2 * padding[0] - kh) // stride[0] + 1
    wo = (w + 2 * padding[1] - kw) // stride[1] + 1
    attrs = conv_attrs(rng, stride, padding)
    attrs["kernel_size"] = pair_attr(rng, kh, kw)

    def ref(t):
        x, gy = t["input"], t["grad_output"]
        weight = torch.zeros(cout, cin, kh, kw, dtype=x.dtype, requires_grad=True)
        (gw,) = torch.autograd.grad(F.conv2d(x, weight, None, stride, padding), weight, gy, create_graph=True)
        return gw
    return Case({"input": normal(rng, [n, cin, h, w]), "grad_output": normal(rng, [n, cout, ho, wo])}, attrs, ref,
                f"x[{n},{cin},{h},{w}] gy[{n},{cout},{ho},{wo}] k=({kh},{kw}) s={stride} p={padding}")


def gen_batch_norm(rng):
    while True:
        n, c = size(rng, 1, 5), size(rng, 1, 4)
        extra = rand_shape(rng, 0, 2, 1, 5)
        training = bool(rng.random() < 0.6)
        # Training normalises each channel over n * prod(extra) values: at least 3 (see layer_norm).
        if not training or n * int(np.prod(extra or [1])) >= 3:
            break
    shape = [n, c] + extra
    inputs = {"input": normal(rng, shape, 2.0) + normal(rng, [c] + [1] * len(extra))}
    running = not training or rng.random() < 0.75
    if running:
        inputs["running_mean"] = normal(rng, [c])
        inputs["running_var"] = uniform(rng, [c], 0.5, 2.0)
    if rng.random() < 0.7:
        inputs["weight"] = uniform(rng, [c], 0.5, 1.5) * np.where(rng.random(c) < 0.2, -1.0, 1.0)
    if rng.random() < 0.7:
        inputs["bias"] = normal(rng, [c])
    momentum = float(rng.choice([0.1, 0.3, 0.05, 0.9]))
    eps = float(rng.choice([1e-5, 1e-3, 0.1]))
    attrs = with_attrs({"training": "1" if training else ("0" if rng.random() < 0.5 else None),
                        "momentum": None if momentum == 0.1 and rng.random() < 0.5 else real_attr(momentum),
                        "eps": None if eps == 1e-5 and rng.random() < 0.5 else real_attr(eps)})
    return Case(inputs, attrs,
                lambda t: F.batch_norm(t["input"], t.get("running_mean"), t.get("running_var"), t.get("weight"),
                                       t.get("bias"), training, momentum, eps),
                f"x{shape} training={int(training)} running={running} weight={'weight' in inputs} "
                f"bias={'bias' in inputs} momentum={momentum} eps={eps}")


def gen_layer_norm(rng):
    # Normalises over at least 3 values: over 1 the output is the bias and the input and weight
    # gradients are 0 (each side then differs from 0 only by rounding noise, so a relative error
    # means nothing); over 2, x_hat = +-1 whatever x is, and the input gradient is O(eps / var),
    # all cancellation (in float32 duel was measured closer to the float64 value than torch).
    while True:
        s = rand_shape(rng, 1, 4, 1, 6)
        k = size(rng, 1, len(s))
        norm = s[len(s) - k:]
        if int(np.prod(norm)) >= 3:
            break
    inputs = {"input": normal(rng, s, 2.0) + 0.5}
    if rng.random() < 0.7:
        inputs["weight"] = normal(rng, norm)
    if rng.random() < 0.7:
        inputs["bias"] = normal(rng, norm)
    eps = float(rng.choice([1e-5, 1e-3, 0.1]))
    attrs = with_attrs({"normalized_shape": dims_str(norm),
                        "eps": None if eps == 1e-5 and rng.random() < 0.5 else real_attr(eps)})
    return Case(inputs, attrs, lambda t: F.layer_norm(t["input"], norm, t.get("weight"), t.get("bias"), eps),
                f"x{s} normalized_shape={norm} weight={'weight' in inputs} bias={'bias' in inputs} eps={eps}")


def reduction_attr(rng):
    r = str(rng.choice(["mean", "sum", "none", "default"]))
    return ("mean", None) if r == "default" else (r, r)


def gen_bce(rng):
    s = rand_shape(rng, 0, 4)
    red, a = reduction_attr(rng)
    scale = float(rng.choice([1.0, 3.0, 12.0]))
    return Case({"input": normal(rng, s, scale), "target": uniform(rng, s, 0.0, 1.0)}, with_attrs({"reduction": a}),
                lambda t: F.binary_cross_entropy_with_logits(t["input"], t["target"], reduction=red),
                f"{s} reduction={red} logit scale={scale}")


def gen_mse(rng):
    s = rand_shape(rng, 0, 4)
    red, a = reduction_attr(rng)
    return Case({"input": normal(rng, s), "target": normal(rng, s)}, with_attrs({"reduction": a}),
                lambda t: F.mse_loss(t["input"], t["target"], reduction=red), f"{s} reduction={red}")


def gen_sample_norm_penalty(rng):
    s = rand_shape(rng, 1, 4)
    target = float(rng.choice([1.0, 0.5, 2.0]))
    eps = float(rng.choice([1e-12, 1e-3]))
    attrs = with_attrs({"target": None if target == 1.0 and rng.random() < 0.5 else real_attr(target),
                        "eps": None if eps == 1e-12 and rng.random() < 0.5 else real_attr(eps)})

    def ref(t):  # WGAN-GP's penalty as the composition PyTorch users write
        x = t["input"]
        norm = torch.sqrt((x * x).reshape(x.shape[0], -1).sum(1) + eps)
        return ((norm - target) ** 2).mean()
    return Case({"input": normal(rng, s, 0.6)}, attrs, ref, f"{s} target={target} eps={eps}")


def indices(rng, shape, n):
    return rng.integers(0, n, shape).astype(np.int64)


def gen_embedding(rng):
    num, dim = size(rng, 1, 7), size(rng, 1, 5)
    s = rand_shape(rng, 0, 3, 1, 5)
    return Case({"input": indices(rng, s, num), "weight": normal(rng, [num, dim])}, {},
                lambda t: F.embedding(t["input"], t["weight"]), f"idx{s} w[{num},{dim}]")


def gen_embedding_backward(rng):
    num, dim = size(rng, 1, 7), size(rng, 1, 5)
    s = rand_shape(rng, 0, 3, 1, 5)

    def ref(t):
        weight = torch.zeros(num, dim, dtype=t["grad_output"].dtype, requires_grad=True)
        (gw,) = torch.autograd.grad(F.embedding(t["input"], weight), weight, t["grad_output"], create_graph=True)
        return gw
    return Case({"grad_output": normal(rng, s + [dim]), "input": indices(rng, s, num)}, {"num_weights": str(num)},
                ref, f"g{s + [dim]} idx{s} n={num}")


def upsample_geometry(rng):
    n, c, h, w = size(rng, 1, 3), size(rng, 1, 4), size(rng, 1, 6), size(rng, 1, 6)
    sh, sw = (2, 2) if rng.random() < 0.4 else (size(rng, 1, 4), size(rng, 1, 4))
    return n, c, h, w, sh, sw


def gen_upsample_nearest2d(rng):
    n, c, h, w, sh, sw = upsample_geometry(rng)
    attrs = with_attrs({"scale_factor": pair_attr(rng, sh, sw, default=2)})
    return Case({"input": normal(rng, [n, c, h, w])}, attrs,
                lambda t: F.interpolate(t["input"], scale_factor=(sh, sw), mode="nearest"),
                f"x[{n},{c},{h},{w}] s=({sh},{sw})")


def gen_upsample_nearest2d_backward(rng):
    n, c, h, w, sh, sw = upsample_geometry(rng)
    attrs = with_attrs({"scale_factor": pair_attr(rng, sh, sw, default=2)})

    def ref(t):
        gy = t["grad_output"]
        x = torch.zeros(n, c, h, w, dtype=gy.dtype, requires_grad=True)
        y = F.interpolate(x, scale_factor=(sh, sw), mode="nearest")
        (gx,) = torch.autograd.grad(y, x, gy, create_graph=True)
        return gx
    return Case({"grad_output": normal(rng, [n, c, h * sh, w * sw])}, attrs, ref,
                f"g[{n},{c},{h * sh},{w * sw}] s=({sh},{sw})")


OPS = {
    "add": binary(torch.add, False),
    "sub": binary(torch.sub, False),
    "mul": binary(torch.mul, False),
    "div": binary(torch.div, True),
    "neg": unary(torch.neg, normal),
    "exp": unary(torch.exp, lambda r, s: normal(r, s, 1.5)),
    "log": unary(torch.log, lambda r, s: uniform(r, s, 0.1, 3.0)),
    "sqrt": unary(torch.sqrt, lambda r, s: uniform(r, s, 0.1, 3.0)),
    "pow": gen_pow,
    "abs": unary(torch.abs, lambda r, s: signed(r, s, 0.05, 2.0)),
    "sign": unary(torch.sign, lambda r, s: signed(r, s, 0.05, 2.0)),
    "clamp": gen_clamp,
    "clamp_backward": gen_clamp_backward,
    "relu": unary(F.relu, lambda r, s: signed(r, s, 0.05, 2.0)),
    "leaky_relu": gen_leaky_relu,
    "leaky_relu_backward": gen_leaky_relu_backward,
    "tanh": unary(torch.tanh, lambda r, s: normal(r, s, 2.0)),
    "sigmoid": unary(torch.sigmoid, lambda r, s: normal(r, s, 3.0)),
    "softplus": gen_softplus,
    "sum": reduction_gen("sum"),
    "mean": reduction_gen("mean"),
    "reshape": gen_reshape,
    "broadcast_to": gen_broadcast_to,
    "cat": gen_cat,
    "narrow": gen_narrow,
    "matmul": gen_matmul,
    "linear": gen_linear,
    "conv2d": gen_conv2d,
    "conv_transpose2d": gen_conv_transpose2d,
    "conv2d_weight_grad": gen_conv2d_weight_grad,
    "upsample_nearest2d": gen_upsample_nearest2d,
    "upsample_nearest2d_backward": gen_upsample_nearest2d_backward,
    "batch_norm": gen_batch_norm,
    "layer_norm": gen_layer_norm,
    "log_softmax": gen_log_softmax,
    "binary_cross_entropy_with_logits": gen_bce,
    "mse_loss": gen_mse,
    "sample_norm_penalty": gen_sample_norm_penalty,
    "embedding": gen_embedding,
    "embedding_backward": gen_embedding_backward,
}


# ---------------------------------------------------------------------------------------------
# Running and comparing
# ---------------------------------------------------------------------------------------------

def np_of(t):
    return t.detach().cpu().numpy().copy()


def torch_reference(case, dtype, rng):
    """Inputs cast to `dtype`, torch's outputs (out, grad.<name>, buffers) and the grad_out used."""
    inputs = {k: (v if v.dtype == np.int64 else np.asarray(v, dtype=NP_DTYPE[dtype])) for k, v in case.inputs.items()}
    tensors, wrt = {}, []
    for name, arr in inputs.items():
        t = torch.from_numpy(arr.copy())
        if arr.dtype != np.int64 and name not in BUFFERS:
            t.requires_grad_(True)
            wrt.append(name)
        tensors[name] = t
    out = case.ref(tensors)
    grad_out = np.asarray(rng.standard_normal(tuple(out.shape)), dtype=NP_DTYPE[dtype])
    expected = {"out": np_of(out)}
    grads = [None] * len(wrt)
    if out.requires_grad:
        grads = torch.autograd.grad(out, [tensors[n] for n in wrt], torch.from_numpy(grad_out.copy()),
                                    allow_unused=True)
    for name, g in zip(wrt, grads):
        expected["grad." + name] = np_of(g) if g is not None else np.zeros_like(inputs[name])
    for name in BUFFERS:
        if name in tensors:
            expected[name] = np_of(tensors[name])
    inputs["grad_out"] = grad_out
    return inputs, expected


def rel_error(d, r, dtype):
    """(error, problem): max|d - r| / max(max|r|, tiny); problem is None or a description."""
    if d.shape != r.shape:
        return math.inf, f"shape {list(d.shape)} != torch {list(r.shape)}"
    if d.dtype != r.dtype:
        return math.inf, f"dtype {d.dtype} != torch {r.dtype}"
    d64, r64 = d.astype(np.float64), r.astype(np.float64)
    dn, rn = np.isnan(d64), np.isnan(r64)
    if (dn & ~rn).any():
        return math.inf, f"NaN in duel where torch has none ({int((dn & ~rn).sum())} elements)"
    if (rn & ~dn).any():
        return math.inf, f"torch has NaN where duel has none ({int((rn & ~dn).sum())} elements)"
    ok = ~rn
    dinf, rinf = np.isinf(d64) & ok, np.isinf(r64) & ok
    if (dinf != rinf).any() or (d64[rinf] != r64[rinf]).any():
        return math.inf, "infinities differ"
    finite = ok & ~rinf
    if not finite.any():
        return 0.0, None
    scale = max(float(np.abs(r64[finite]).max()), float(np.finfo(NP_DTYPE[dtype]).tiny))
    return float(np.abs(d64[finite] - r64[finite]).max()) / scale, None


def command_line(duel, op, in_path, out_path, attrs, cpu_path):
    cmd = [duel, "op", op, "--in", in_path, "--out", out_path]
    for k, v in attrs.items():
        cmd += ["--attr", f"{k}={v}"]
    cmd.append("--backward")
    if cpu_path:
        cmd += ["--cpu-path", cpu_path]
    return cmd


def check_case(args, op, dtype, trial, workdir):
    """Runs one random case; returns (worst error, worst tensor, [failure messages], command)."""
    rng = np.random.default_rng([args.seed, zlib.crc32(op.encode()), trial, 0 if dtype == "f64" else 1])
    case = OPS[op](rng)
    inputs, expected = torch_reference(case, dtype, rng)
    stem = os.path.join(workdir, f"{op}.{dtype}.{trial}")
    in_path, out_path = stem + ".in.safetensors", stem + ".out.safetensors"
    st_numpy.save(in_path, inputs)
    cmd = command_line(args.duel, op, in_path, out_path, case.attrs, args.cpu_path)
    where = f"{op} {dtype} trial {trial} [{case.label}]"
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        return math.inf, "-", [f"{where}: duel exited {proc.returncode}: {msg[-1] if msg else ''}"], cmd
    got, _ = st_numpy.load(out_path)
    worst, worst_name, failures = 0.0, "-", []
    for name, ref in expected.items():
        if name not in got:
            failures.append(f"{where}: duel wrote no '{name}'")
            worst, worst_name = math.inf, name
            continue
        err, problem = rel_error(got[name], ref, dtype)
        if err > worst or worst_name == "-":
            worst, worst_name = max(worst, err), name
        if problem or not err <= TOLERANCE[dtype]:
            failures.append(f"{where}: {name}: " + (problem or f"error {err:.3g} > {TOLERANCE[dtype]:g}"))
    for name in got:
        if name not in expected:
            failures.append(f"{where}: duel wrote an unexpected tensor '{name}'")
    return worst, worst_name, failures, cmd


def main():
    default_duel = os.path.normpath(os.path.join(SCRIPT_DIR, "..", "build", "duel"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=3, help="random cases per op and dtype (default 3)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--ops", default="", help="comma-separated op names (default: all)")
    p.add_argument("--dtypes", default="f64,f32", help="comma-separated: f64, f32 (default both)")
    p.add_argument("--duel", default=default_duel, help=f"the duel binary (default {default_duel})")
    p.add_argument("--cpu-path", choices=["fast", "reference"], default=None, help="passed to duel op")
    p.add_argument("--keep", metavar="DIR", default=None, help="keep the safetensors files of every case in DIR")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of the table")
    args = p.parse_args()

    ops = [o for o in args.ops.split(",") if o] or list(OPS)
    unknown = [o for o in ops if o not in OPS]
    dtypes = [d for d in args.dtypes.split(",") if d]
    if unknown or any(d not in TOLERANCE for d in dtypes) or args.trials < 1:
        p.error(f"unknown ops {unknown} (known: {', '.join(OPS)})" if unknown else "bad --dtypes or --trials")
    if not (os.path.isfile(args.duel) and os.access(args.duel, os.X_OK)):
        print(f"crosscheck_torch: no duel binary at {args.duel} (build it, or pass --duel)", file=sys.stderr)
        return 1
    torch.manual_seed(args.seed)

    start = time.monotonic()
    results, calls = [], 0
    tmp = None
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        workdir = args.keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix="duel_crosscheck_")
        workdir = tmp.name
    try:
        for op in ops:
            for dtype in dtypes:
                worst, worst_name, failures, first_fail_cmd = 0.0, "-", [], None
                for trial in range(args.trials):
                    try:
                        err, name, fails, cmd = check_case(args, op, dtype, trial, workdir)
                    except Exception as e:  # noqa: BLE001 - a broken case is a failure, not a crash
                        err, name, fails, cmd = math.inf, "-", [f"{op} {dtype} trial {trial}: {type(e).__name__}: {e}"], None
                    calls += 1
                    if err > worst or worst_name == "-":
                        worst, worst_name = max(worst, err), name
                    if fails and first_fail_cmd is None:
                        first_fail_cmd = cmd
                    failures += fails
                results.append({"op": op, "dtype": dtype, "trials": args.trials, "worst_error": worst,
                                "worst_tensor": worst_name, "tolerance": TOLERANCE[dtype], "passed": not failures,
                                "failures": failures,
                                "command": shlex.join(first_fail_cmd) if first_fail_cmd else None})
    finally:
        if tmp:
            tmp.cleanup()
    elapsed = time.monotonic() - start
    n_fail = sum(not r["passed"] for r in results)

    if args.json:
        summary = {"passed": n_fail == 0, "seed": args.seed, "trials": args.trials, "duel_calls": calls,
                   "checked": len(results), "failed": n_fail, "elapsed_s": round(elapsed, 3),
                   "torch": torch.__version__,
                   "results": [dict(r, worst_error=(None if math.isinf(r["worst_error"]) else r["worst_error"]))
                               for r in results]}
        print(json.dumps(summary, indent=1))
    else:
        print(f"duel op vs torch {torch.__version__} (torch.nn.functional), seed {args.seed}, "
              f"{args.trials} random cases per op and dtype; tolerance 1e-9 (f64), 2e-4 (f32)")
        print(f"{'op':34s} {'dtype':5s} {'worst error':>11s} {'trials':>6s}  {'worst tensor':16s} result")
        for r in results:
            print(f"{r['op']:34s} {r['dtype']:5s} {r['worst_error']:11.3g} {r['trials']:6d}  "
                  f"{r['worst_tensor']:16s} {'ok' if r['passed'] else 'FAIL'}")
        for r in results:
            for f in r["failures"]:
                print("FAIL " + f)
            if r["command"]:
                print("  reproduce: " + r["command"] + ("" if args.keep else
                      f"   (the files are kept with: {sys.argv[0]} --seed {args.seed} --trials {args.trials} "
                      f"--ops {r['op']} --dtypes {r['dtype']} --keep DIR)"))
        print(f"{len(results) - n_fail}/{len(results)} (op, dtype) pairs agree with torch; "
              f"{calls} duel calls in {elapsed:.1f} s" + ("" if n_fail == 0 else f"; {n_fail} FAILED"))
    return 0 if n_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
