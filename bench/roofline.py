#!/usr/bin/python3
"""Roofline of the convolution family on the GAN layer shapes: for each layer and pass, the
useful FLOPs, the minimum DRAM bytes (each operand read once, the result written once, float32),
their ratio, and which one bounds the pass on a given GPU. Also the FLOPs duel's implicit-GEMM
kernels actually execute: the input gradient (a generator's forward pass) is split by stride phase
so that no structural zero is multiplied, and a 1x1-to-image layer is a plain GEMM; what remains
is the padding border, where some taps fall outside. Prints a Markdown table (docs/benchmarks.md holds its output).

    /usr/bin/python3 bench/roofline.py [--gpu h100-sxm|h200]

Peak figures are the vendors' dense float32 (CUDA-core FMA) and HBM numbers; the benchmarks
(bench/bench_cuda) measure the achieved ones.
"""
import argparse

GPUS = {
    # name: (FP32 non-tensor TFLOP/s, TF32 tensor TFLOP/s dense, HBM TB/s)
    "h100-sxm": (67.0, 494.7, 3.35),
    "h200": (67.0, 494.7, 4.8),
}


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


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gpu", default="h100-sxm", choices=sorted(GPUS))
    args = ap.parse_args()
    fp32, tf32, bw = GPUS[args.gpu]
    ridge = fp32 * 1e12 / (bw * 1e12)
    print(f"GPU {args.gpu}: FP32 {fp32} TFLOP/s, HBM {bw} TB/s, ridge {ridge:.1f} FLOP/byte "
          f"(TF32 tensor cores {tf32} TFLOP/s dense)\n")
    print("| layer | pass | GFLOP useful | GFLOP executed by duel | MB min | FLOP/byte | bound | "
          "time at FP32 peak (us) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, transposed, c in LAYERS:
        for pname, useful, executed, nbytes in passes(transposed, c):
            intensity = useful / nbytes
            t_compute = executed / (fp32 * 1e12)
            t_memory = nbytes / (bw * 1e12)
            bound = "compute" if t_compute >= t_memory else "memory"
            print(f"| {name} | {pname} | {useful / 1e9:.3f} | {executed / 1e9:.3f} | "
                  f"{nbytes / 1e6:.2f} | {intensity:.1f} | {bound} | "
                  f"{max(t_compute, t_memory) * 1e6:.1f} |")


if __name__ == "__main__":
    main()
