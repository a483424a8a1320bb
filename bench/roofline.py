#!/usr/bin/python3
"""Roofline of the convolution family on the GAN layer shapes: for each layer and pass, the
useful FLOPs, the minimum DRAM bytes (each operand read once, the result written once, float32),
their ratio, and which one bounds the pass on a given GPU. Also the FLOPs duel's implicit-GEMM
kernels actually execute: the input gradient (a generator's forward pass) is split by stride phase
so that no structural zero is multiplied, and a 1x1-to-image layer is a plain GEMM; what remains
is the padding border, where some taps fall outside. Prints a Markdown table (docs/benchmarks.md holds its output).

    /usr/bin/python3 bench/roofline.py [--gpu h100-sxm|h200] [--math fp32|tf32|bf16] [--predict]

Peak figures are the vendors' dense numbers: FP32 on CUDA cores, TF32 and BF16 on tensor cores,
and HBM; the benchmarks (bench/bench_cuda) measure the achieved ones. With --predict it prints
the performance model of docs/cuda.md instead: for each pass, the tile and split the kernels'
plan picks (kernels/cuda/gemm.cu, make_plan), the waves that grid makes, and the predicted
fraction of the mode's peak, so that the first GPU run tests predictions.
"""
import math
import argparse

GPUS = {
    # name: (FP32 non-tensor TFLOP/s, TF32 tensor TFLOP/s dense, BF16 tensor TFLOP/s dense, HBM TB/s)
    "h100-sxm": (67.0, 494.7, 989.4, 3.35),
    "h200": (67.0, 494.7, 989.4, 4.8),
}
SMS = 132

# The performance model. Per main loop, the fraction of the mode's peak a full wave of tiles can
# reach, from counting issued instructions per tile step (docs/cuda.md, "Performance model"):
#   fp32: 4 LDS.128 per 64 FFMA and about 12% gather overhead per slice -> 0.65
#   tf32: per warp and 32-deep slice, 64 mma.m16n8k8 (64 tensor-pipe clocks at peak) against
#         about 560 issued instructions (fragment loads, cvt.rna, the 4-byte cp.async gather):
#         issue-bound at about 0.45, taken as 0.38
#   bf16: 32 mma.m16n8k16 against about 450 instructions: issue-bound near 0.28, taken as 0.22
PATH_EFFICIENCY = {"fp32": 0.65, "tf32": 0.38, "bf16": 0.22}
# Tiles (BM, BN, BK) and resident blocks per SM (registers and shared memory).
TILES = {
    "fp32": {"128x128": (128, 128, 8, 2), "64x64": (64, 64, 16, 4), "16x128": (16, 128, 16, 4)},
    "tf32": {"128x128": (128, 128, 32, 1), "64x64": (64, 64, 32, 4), "16x128": (16, 128, 32, 4)},
    "bf16": {"128x128": (128, 128, 32, 1), "64x64": (64, 64, 32, 4), "16x128": (16, 128, 32, 4)},
}
LAUNCH_US = 2.5  # launch and ramp of one kernel, plus the split-K sum where there is one


def plan(m, n, k, groups, mode):
    """Tile, split count and blocks, as make_plan in kernels/cuda/gemm.cu."""
    if m <= 16:
        tile = "16x128"
    elif math.ceil(m / 128) * math.ceil(n / 128) * groups >= SMS:
        tile = "128x128"
    else:
        tile = "64x64"
    bm, bn, bk, per_sm = TILES[mode][tile]
    blocks = math.ceil(m / bm) * math.ceil(n / bn) * groups
    splits = 1
    if blocks < 2 * SMS:
        splits = min(math.ceil(2 * SMS / blocks), math.ceil(k / (4 * bk)))
    splits = max(1, min(splits, max(1, math.ceil(k / bk))))
    chunk = math.ceil(math.ceil(k / splits) / bk) * bk
    splits = max(1, math.ceil(k / chunk))
    return tile, splits, blocks * splits, per_sm, bm, bn


def conv(n, ci, h, co, k, stride, pad):
    ho = (h + 2 * pad - k) // stride + 1
    return dict(n=n, ci=ci, h=h, co=co, k=k, s=stride, ho=ho, pad=pad)


def conv_t(n, c_in, h, c_out, k, stride, pad):
    # The conv2d whose input gradient is this transposed convolution.
    h_out = (h - 1) * stride - 2 * pad + k
    return dict(n=n, ci=c_out, h=h_out, co=c_in, k=k, s=stride, ho=h, pad=pad)


LAYERS = [
    ("dcgan28.G.0 convT 100->256 k7 1->7", True, conv_t(64, 100, 1, 256, 7, 1, 0)),
    ("dcgan28.G.3 convT 256->128 k4s2 7->14", True, conv_t(64, 256, 7, 128, 4, 2, 1)),
    ("dcgan28.G.6 convT 128->1 k4s2 14->28", True, conv_t(64, 128, 14, 1, 4, 2, 1)),
    ("dcgan28.D.0 conv 1->64 k4s2 28->14", False, conv(64, 1, 28, 64, 4, 2, 1)),
    ("dcgan28.D.2 conv 64->128 k4s2 14->7", False, conv(64, 64, 14, 128, 4, 2, 1)),
    ("dcgan28.D.5 conv 128->1 k7 7->1", False, conv(64, 128, 7, 1, 7, 1, 0)),
    ("dcgan64.G.0 convT 100->512 k4 1->4", True, conv_t(128, 100, 1, 512, 4, 1, 0)),
    ("dcgan64.G.3 convT 512->256 k4s2 4->8", True, conv_t(128, 512, 4, 256, 4, 2, 1)),
    ("dcgan64.G.6 convT 256->128 k4s2 8->16", True, conv_t(128, 256, 8, 128, 4, 2, 1)),
    ("dcgan64.G.9 convT 128->64 k4s2 16->32", True, conv_t(128, 128, 16, 64, 4, 2, 1)),
    ("dcgan64.G.12 convT 64->3 k4s2 32->64", True, conv_t(128, 64, 32, 3, 4, 2, 1)),
    ("dcgan64.D.0 conv 3->64 k4s2 64->32", False, conv(128, 3, 64, 64, 4, 2, 1)),
    ("dcgan64.D.2 conv 64->128 k4s2 32->16", False, conv(128, 64, 32, 128, 4, 2, 1)),
    ("dcgan64.D.5 conv 128->256 k4s2 16->8", False, conv(128, 128, 16, 256, 4, 2, 1)),
    ("dcgan64.D.8 conv 256->512 k4s2 8->4", False, conv(128, 256, 8, 512, 4, 2, 1)),
    ("dcgan64.D.11 conv 512->1 k4 4->1", False, conv(128, 512, 4, 1, 4, 1, 0)),
]


def input_grad_macs(c):
    """Multiply-adds duel's conv2d_input_grad executes (kernels/cuda/gemm.cu)."""
    n, ci, h, co, k, s, ho = c["n"], c["ci"], c["h"], c["co"], c["k"], c["s"], c["ho"]
    pad = c["pad"]
    if ho == 1 and pad == 0 and k == h:
        return n * ci * k * k * co  # the 1x1 case: a plain GEMM
    if s == 1:
        return n * ci * h * h * co * k * k  # one phase: every tap of every pixel
    total = 0
    for ph in range(s):
        ih0 = (ph - pad) % s
        th = (h - ih0 + s - 1) // s if ih0 < h else 0
        ra = (k - ph + s - 1) // s if ph < k else 0
        for pw in range(s):
            iw0 = (pw - pad) % s
            tw = (h - iw0 + s - 1) // s if iw0 < h else 0
            rb = (k - pw + s - 1) // s if pw < k else 0
            total += n * th * tw * ci * co * ra * rb
    return total


def passes(transposed, c):
    """(pass name, useful FLOPs, executed FLOPs, min bytes) of the three kernels of one layer."""
    n, ci, h, co, k, s, ho = c["n"], c["ci"], c["h"], c["co"], c["k"], c["s"], c["ho"]
    macs = n * co * ho * ho * ci * k * k  # one multiply-add per (output of conv2d, tap)
    x, w, y = n * ci * h * h, co * ci * k * k, n * co * ho * ho
    fwd = ("conv2d", 2 * macs, 2 * macs, 4 * (x + w + y))
    dgrad = ("conv2d_input_grad", 2 * macs, 2 * input_grad_macs(c), 4 * (y + w + x))
    wgrad = ("conv2d_weight_grad", 2 * macs, 2 * macs, 4 * (x + y + w))
    if transposed:  # a generator layer: forward is the input gradient, its input grad is conv2d
        return [("forward (convT)",) + dgrad[1:], ("input grad",) + fwd[1:], ("weight grad",) + wgrad[1:]]
    return [("forward",) + fwd[1:], ("input grad",) + dgrad[1:], ("weight grad",) + wgrad[1:]]


def gemm_dims(pname, c):
    """(M, N, K, groups) of the GEMM that runs a pass (conv2d form), as gemm.cu sets them up."""
    n, ci, h, co, k, s, ho, pad = c["n"], c["ci"], c["h"], c["co"], c["k"], c["s"], c["ho"], c["pad"]
    if pname == "conv2d":
        return co, n * ho * ho, ci * k * k, 1
    if pname == "conv2d_weight_grad":
        return co, ci * k * k, n * ho * ho, 1
    if ho == 1 and pad == 0 and k == h:  # the 1x1 input gradient: a plain GEMM
        return n, ci * k * k, co, 1
    th = math.ceil(h / s)
    return ci, n * th * th, co * math.ceil(k / s) ** 2, s * s


def predict(args):
    fp32, tf32, bf16, bw = GPUS[args.gpu]
    peak = {"fp32": fp32, "tf32": tf32, "bf16": bf16}[args.math] * 1e12
    print(f"Predicted, {args.gpu}, math {args.math} (peak {peak / 1e12:.0f} TFLOP/s, HBM {bw} TB/s)\n")
    print("| layer | pass | GEMM M x N x K (groups) | tile, splits | waves | predicted us | predicted TFLOP/s "
          "| fraction of peak |")
    print("|---|---|---|---|---|---|---|---|")
    for name, transposed, c in LAYERS:
        kernels = {"forward": "conv2d", "input grad": "conv2d_input_grad", "weight grad": "conv2d_weight_grad"}
        for pname, useful, executed, nbytes in passes(transposed, c):
            kernel = kernels[pname.split(" (")[0]] if not transposed else \
                {"forward (convT)": "conv2d_input_grad", "input grad": "conv2d", "weight grad": "conv2d_weight_grad"}[pname]
            m, n, k, groups = gemm_dims(kernel, c)
            tile, splits, blocks, per_sm, bm, bn = plan(m, n, k, groups, args.math)
            slots = SMS * per_sm
            waves = math.ceil(blocks / slots)
            # Wasted rows and columns of partial tiles, and idle slots of the last wave.
            fill = (m / (math.ceil(m / bm) * bm)) * (n / groups / (math.ceil(n / groups / bn) * bn) if groups > 1
                                                     else n / (math.ceil(n / bn) * bn))
            wave_eff = blocks / (waves * slots)
            t_compute = executed / (peak * PATH_EFFICIENCY[args.math] * fill * max(wave_eff, 1e-9))
            t_memory = (nbytes + (4 * splits * m * n if splits > 1 else 0)) / (bw * 1e12 * 0.8)
            t = max(t_compute, t_memory) + LAUNCH_US * 1e-6 * (2 if splits > 1 else 1)
            print(f"| {name} | {pname} | {m} x {n} x {k} ({groups}) | {tile}, {splits} | {blocks / slots:.2f} | "
                  f"{t * 1e6:.1f} | {useful / t / 1e12:.1f} | {useful / t / peak:.0%} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gpu", default="h100-sxm", choices=sorted(GPUS))
    ap.add_argument("--math", default="fp32", choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--predict", action="store_true")
    args = ap.parse_args()
    if args.predict:
        predict(args)
        return
    fp32, tf32, bf16, bw = GPUS[args.gpu]
    ridge = fp32 * 1e12 / (bw * 1e12)
    print(f"GPU {args.gpu}: FP32 {fp32} TFLOP/s, HBM {bw} TB/s, ridge {ridge:.1f} FLOP/byte "
          f"(tensor cores dense: TF32 {tf32}, BF16 {bf16} TFLOP/s; ridges {tf32 / bw:.0f} and "
          f"{bf16 / bw:.0f} FLOP/byte)\n")
    print("| layer | pass | GFLOP useful | GFLOP executed by duel | MB min | FLOP/byte | bound | "
          "time at FP32 peak (us) | at TF32 peak | at BF16 peak |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, transposed, c in LAYERS:
        for pname, useful, executed, nbytes in passes(transposed, c):
            intensity = useful / nbytes
            t_compute = executed / (fp32 * 1e12)
            t_memory = nbytes / (bw * 1e12)
            bound = "compute" if t_compute >= t_memory else "memory"
            t_tf32 = max(executed / (tf32 * 1e12), t_memory)
            t_bf16 = max(executed / (bf16 * 1e12), t_memory)
            print(f"| {name} | {pname} | {useful / 1e9:.3f} | {executed / 1e9:.3f} | "
                  f"{nbytes / 1e6:.2f} | {intensity:.1f} | {bound} | "
                  f"{max(t_compute, t_memory) * 1e6:.1f} | {t_tf32 * 1e6:.1f} | {t_bf16 * 1e6:.1f} |")


if __name__ == "__main__":
    main()
