// Matmul and the convolution family as one implicit GEMM: C[m, n] = sum_k A(m, k) B(k, n), where
// A and B are gathered from the tensors on the fly (no im2col buffer) and C is scattered into the
// output layout. One kernel, four operand maps:
//
//   op                 M        N                K                A            B
//   matmul             m        n                k                a            b
//   conv2d             c_out    n*h_out*w_out    c_in*kh*kw       w            x (im2col)
//   conv2d_input_grad  c_in     n*h*w            c_out*kh*kw      w^T          dy (col2im)
//   conv2d_weight_grad c_out    c_in*kh*kw       n*h_out*w_out    dy           x (im2col)
//
// Tiling: a block of 256 threads computes a 64x64 tile of C, stepping through K in slices of 16
// staged in shared memory; each thread owns a 4x4 register tile at rows ty+16i, columns tx+16j,
// so a warp reads each A value as a broadcast and 16 consecutive B values (no bank conflicts) and
// stores 16 consecutive outputs. The gather computes the element's coordinates per load; the
// column coordinates of a thread's B loads are fixed for the whole K loop and decoded once.
// conv2d_weight_grad's K (n*h_out*w_out) is long, so it is split over blockIdx.z into chunks whose
// partial tiles go to a workspace and are summed in chunk order by a second kernel: deterministic.
#include <cstdint>

#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;

// ---- operand maps. Each has a `col(n)` decoder run once per thread and a `load(k, col)`.

struct MatA {  // a [batch, m, k] or [batch, k, m] (ta)
  const float* a;
  int64_t m, k;
  bool ta;
  __device__ float operator()(int64_t z, int64_t row, int64_t kk) const {
    const float* base = a + z * m * k;
    return ta ? base[kk * m + row] : base[row * k + kk];
  }
};

struct MatB {  // b [batch, k, n] or [batch, n, k] (tb)
  const float* b;
  int64_t k, n;
  bool tb;
  struct Col {
    int64_t j;
  };
  __device__ Col col(int64_t j) const { return {j}; }
  __device__ float operator()(int64_t z, int64_t kk, const Col& c) const {
    const float* base = b + z * k * n;
    return tb ? base[c.j * k + kk] : base[kk * n + c.j];
  }
};

struct MatC {
  float* c;
  int64_t m, n;
  __device__ void operator()(int64_t z, int64_t row, int64_t col, float v) const {
    c[(z * m + row) * n + col] = v;
  }
};

// conv2d's weight as A: w [c_out, c_in*kh*kw], row-major already.
struct WeightA {
  const float* w;
  int64_t k;
  __device__ float operator()(int64_t, int64_t row, int64_t kk) const { return w[row * k + kk]; }
};

// conv2d's input as B (im2col on the fly): column = (image, oh, ow), row = (ci, r, s).
struct Im2colB {
  const float* x;
  ConvShape s;
  struct Col {
    int64_t base;  // offset of image b's channel 0
    int64_t ih0, iw0;
    bool valid;
  };
  __device__ Col col(int64_t j) const {
    const int64_t hw = s.h_out * s.w_out;
    if (j >= s.n * hw) return {0, 0, 0, false};
    const int64_t b = j / hw, p = j % hw;
    return {b * s.c_in * s.h * s.w, (p / s.w_out) * s.stride_h - s.pad_h,
            (p % s.w_out) * s.stride_w - s.pad_w, true};
  }
  __device__ float operator()(int64_t, int64_t kk, const Col& c) const {
    const int64_t khw = s.kh * s.kw;
    const int64_t ci = kk / khw, rs = kk % khw;
    const int64_t ih = c.ih0 + rs / s.kw, iw = c.iw0 + rs % s.kw;
    if (!c.valid || ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) return 0.0f;
    return x[c.base + (ci * s.h + ih) * s.w + iw];
  }
};

// conv2d's output layout as C: y [n, c_out, h_out, w_out] (+ bias [c_out]).
struct ConvOutC {
  float* y;
  const float* bias;
  int64_t c_out, hw;
  __device__ void operator()(int64_t, int64_t row, int64_t col, float v) const {
    const int64_t b = col / hw, p = col % hw;
    y[(b * c_out + row) * hw + p] = bias ? v + bias[row] : v;
  }
};

// The input gradient's A: w [c_out, c_in, kh, kw] read as [c_in, c_out*kh*kw].
struct WeightTA {
  const float* w;
  int64_t c_in, khw;
  __device__ float operator()(int64_t, int64_t row, int64_t kk) const {
    const int64_t co = kk / khw, rs = kk % khw;
    return w[(co * c_in + row) * khw + rs];
  }
};

// The input gradient's B (col2im as a gather): column = (image, ih, iw), row = (co, r, s); the
// output position with oh*stride - pad + r = ih contributes when the division is exact.
struct Col2imB {
  const float* dy;
  ConvShape s;
  struct Col {
    int64_t base;  // offset of image b's channel 0 in dy
    int64_t th, tw;  // ih + pad, iw + pad
    bool valid;
  };
  __device__ Col col(int64_t j) const {
    const int64_t hw = s.h * s.w;
    if (j >= s.n * hw) return {0, 0, 0, false};
    const int64_t b = j / hw, p = j % hw;
    return {b * s.c_out * s.h_out * s.w_out, p / s.w + s.pad_h, p % s.w + s.pad_w, true};
  }
  __device__ float operator()(int64_t, int64_t kk, const Col& c) const {
    const int64_t khw = s.kh * s.kw;
    const int64_t co = kk / khw, rs = kk % khw;
    const int64_t oh_s = c.th - rs / s.kw, ow_s = c.tw - rs % s.kw;
    if (!c.valid || oh_s < 0 || ow_s < 0 || oh_s % s.stride_h != 0 || ow_s % s.stride_w != 0)
      return 0.0f;
    const int64_t oh = oh_s / s.stride_h, ow = ow_s / s.stride_w;
    if (oh >= s.h_out || ow >= s.w_out) return 0.0f;
    return dy[c.base + (co * s.h_out + oh) * s.w_out + ow];
  }
};

// The weight gradient's A: dy [n, c_out, h_out*w_out] read as [c_out, n*h_out*w_out].
struct DyA {
  const float* dy;
  int64_t c_out, hw;
  __device__ float operator()(int64_t, int64_t row, int64_t kk) const {
    const int64_t b = kk / hw, p = kk % hw;
    return dy[(b * c_out + row) * hw + p];
  }
};

// The weight gradient's B: x gathered at row (image, oh, ow), column (ci, r, s).
struct Im2colTB {
  const float* x;
  ConvShape s;
  struct Col {
    int64_t ci, r, c;
    bool valid;
  };
  __device__ Col col(int64_t j) const {
    const int64_t khw = s.kh * s.kw;
    if (j >= s.c_in * khw) return {0, 0, 0, false};
    return {j / khw, j % khw / s.kw, j % s.kw, true};
  }
  __device__ float operator()(int64_t, int64_t kk, const Col& c) const {
    const int64_t hw = s.h_out * s.w_out;
    const int64_t b = kk / hw, p = kk % hw;
    const int64_t ih = (p / s.w_out) * s.stride_h - s.pad_h + c.r;
    const int64_t iw = (p % s.w_out) * s.stride_w - s.pad_w + c.c;
    if (!c.valid || ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) return 0.0f;
    return x[((b * s.c_in + c.ci) * s.h + ih) * s.w + iw];
  }
};

// ---- the input gradient by stride phase. Only the taps r = ph + stride*a of one phase ph reach
// the input rows ih with (ih + pad) % stride == ph, so the gradient splits into stride_h*stride_w
// independent GEMMs, each over its own rows and taps: no multiply by a structural zero
// (a stride-2 layer gathered whole would do 4x the useful work).
struct Phase {
  int64_t ih0, iw0;  // first input row / column of the phase
  int64_t th, tw;    // input rows / columns in the phase
  int64_t ph, pw;    // the phase: first tap row / column
  int64_t ra, rb;    // taps per row / column in the phase
  int64_t ch, cw;    // output row = t - a + ch (likewise columns)
  int64_t sh, sw;
};

Phase make_phase(const ConvShape& s, int64_t ph, int64_t pw) {
  Phase p{};
  p.sh = s.stride_h;
  p.sw = s.stride_w;
  p.ph = ph;
  p.pw = pw;
  p.ih0 = ((ph - s.pad_h) % s.stride_h + s.stride_h) % s.stride_h;
  p.iw0 = ((pw - s.pad_w) % s.stride_w + s.stride_w) % s.stride_w;
  p.th = p.ih0 < s.h ? (s.h - p.ih0 + s.stride_h - 1) / s.stride_h : 0;
  p.tw = p.iw0 < s.w ? (s.w - p.iw0 + s.stride_w - 1) / s.stride_w : 0;
  p.ra = ph < s.kh ? (s.kh - ph + s.stride_h - 1) / s.stride_h : 0;
  p.rb = pw < s.kw ? (s.kw - pw + s.stride_w - 1) / s.stride_w : 0;
  p.ch = (p.ih0 + s.pad_h - ph) / s.stride_h;
  p.cw = (p.iw0 + s.pad_w - pw) / s.stride_w;
  return p;
}

// A: w [c_out, c_in, kh, kw] at row ci, k = (co, a, b) over the phase's taps.
struct PhaseWeightA {
  const float* w;
  int64_t c_in, kh, kw;
  Phase p;
  __device__ float operator()(int64_t, int64_t row, int64_t kk) const {
    const int64_t taps = p.ra * p.rb;
    const int64_t co = kk / taps, ab = kk % taps;
    const int64_t r = p.ph + p.sh * (ab / p.rb), c = p.pw + p.sw * (ab % p.rb);
    return w[((co * c_in + row) * kh + r) * kw + c];
  }
};

// B: dy at row (co, a, b), column (image, t, u) of the phase.
struct PhaseDyB {
  const float* dy;
  ConvShape s;
  Phase p;
  struct Col {
    int64_t base, t, u;
    bool valid;
  };
  __device__ Col col(int64_t j) const {
    const int64_t per = p.th * p.tw;
    if (j >= s.n * per) return {0, 0, 0, false};
    const int64_t b = j / per, q = j % per;
    return {b * s.c_out * s.h_out * s.w_out, q / p.tw, q % p.tw, true};
  }
  __device__ float operator()(int64_t, int64_t kk, const Col& c) const {
    const int64_t taps = p.ra * p.rb;
    const int64_t co = kk / taps, ab = kk % taps;
    const int64_t oh = c.t - ab / p.rb + p.ch, ow = c.u - ab % p.rb + p.cw;
    if (!c.valid || oh < 0 || oh >= s.h_out || ow < 0 || ow >= s.w_out) return 0.0f;
    return dy[c.base + (co * s.h_out + oh) * s.w_out + ow];
  }
};

// C: dx [n, c_in, h, w] at the phase's pixels (+ bias [c_in]).
struct PhaseOutC {
  float* dx;
  const float* bias;
  int64_t c_in, h, w;
  Phase p;
  __device__ void operator()(int64_t, int64_t row, int64_t col, float v) const {
    const int64_t per = p.th * p.tw;
    const int64_t b = col / per, q = col % per;
    const int64_t ih = p.ih0 + p.sh * (q / p.tw), iw = p.iw0 + p.sw * (q % p.tw);
    dx[((b * c_in + row) * h + ih) * w + iw] = bias ? v + bias[row] : v;
  }
};

// A 1x1 output that covers the whole (unpadded) input, as in a generator's first layer
// (ConvTranspose from a latent vector): dx [n, c_in*kh*kw] = dy [n, c_out] w [c_out, c_in*kh*kw],
// plus bias [c_in] on every tap of its channel.
struct RowBiasC {
  float* c;
  const float* bias;
  int64_t n, khw;
  __device__ void operator()(int64_t, int64_t row, int64_t col, float v) const {
    c[row * n + col] = bias ? v + bias[col / khw] : v;
  }
};

// Partial tiles of a split-K product: part [splits, M, N].
struct PartialC {
  float* part;
  int64_t m, n;
  __device__ void operator()(int64_t z, int64_t row, int64_t col, float v) const {
    part[(z * m + row) * n + col] = v;
  }
};

// C = A B over k in [z*k_chunk, min(K, (z+1)*k_chunk)) when split, else over all of K with z the
// batch index. Grid: (ceil(N/64), ceil(M/64), batch or splits).
template <class AMap, class BMap, class CMap>
__global__ void __launch_bounds__(kThreads)
    igemm_kernel(int64_t M, int64_t N, int64_t K, int64_t k_chunk, bool split, AMap amap,
                 BMap bmap, CMap cmap) {
  __shared__ float As[kBK][kBM];
  __shared__ float Bs[kBK][kBN];
  const int tid = int(threadIdx.x);
  const int tx = tid % 16, ty = tid / 16;
  const int64_t z = blockIdx.z;
  const int64_t m0 = int64_t(blockIdx.y) * kBM, n0 = int64_t(blockIdx.x) * kBN;
  const int64_t k_begin = split ? z * k_chunk : 0;
  const int64_t k_end = split ? (k_begin + k_chunk < K ? k_begin + k_chunk : K) : K;
  const int64_t zb = split ? 0 : z;  // the operand batch index

  // This thread loads A rows a_m = tid/16 + 16i at slice column a_k = tid%16, and B columns
  // b_n = tid%64 at slice rows b_k = tid/64 + 4i.
  const int a_k = tid % kBK, a_m = tid / kBK;
  const int b_n = tid % kBN, b_k = tid / kBN;
  const typename BMap::Col bcol = bmap.col(n0 + b_n);
  const bool b_col_in = n0 + b_n < N;

  // Software pipelining: the next slice's operands are gathered into registers while this slice
  // is multiplied out of shared memory, so global-load latency overlaps the FMAs.
  float a_next[4], b_next[4];
  auto gather = [&](int64_t k0) {
    const int64_t ka = k0 + a_k;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t row = m0 + a_m + 16 * i;
      a_next[i] = (row < M && ka < k_end) ? amap(zb, row, ka) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t kb = k0 + b_k + 4 * i;
      b_next[i] = (b_col_in && kb < k_end) ? bmap(zb, kb, bcol) : 0.0f;
    }
  };
  if (k_begin < k_end) gather(k_begin);

  float acc[4][4] = {};
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kBK) {
#pragma unroll
    for (int i = 0; i < 4; ++i) As[a_k][a_m + 16 * i] = a_next[i];
#pragma unroll
    for (int i = 0; i < 4; ++i) Bs[b_k + 4 * i][b_n] = b_next[i];
    __syncthreads();
    if (k0 + kBK < k_end) gather(k0 + kBK);
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t row = m0 + ty + 16 * i;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t col = n0 + tx + 16 * j;
      if (row < M && col < N) cmap(z, row, col, acc[i][j]);
    }
  }
}

// out[i] = sum over s < splits of part[s, i], in s order.
__global__ void sum_splits_kernel(float* out, const float* part, int64_t n, int64_t splits) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float v = 0.0f;
  for (int64_t s = 0; s < splits; ++s) v += part[s * n + i];
  out[i] = v;
}

template <class AMap, class BMap, class CMap>
void igemm(const char* name, int64_t M, int64_t N, int64_t K, int64_t batch, AMap a, BMap b,
           CMap c, Stream stream) {
  const dim3 grid(blocks_for(N, kBN), blocks_for(M, kBM), unsigned(batch));
  launch(name, igemm_kernel<AMap, BMap, CMap>, grid, dim3(kThreads), stream, M, N, K, K, false,
         a, b, c);
}

// Splits K so that the grid has enough blocks to fill the GPU (about 4 waves of 132 SMs), with
// chunks of at least 256 (a whole number of 16-slices).
int64_t weight_grad_splits(int64_t M, int64_t N, int64_t K) {
  const int64_t tiles = int64_t(blocks_for(M, kBM)) * blocks_for(N, kBN);
  int64_t splits = (528 + tiles - 1) / tiles;
  const int64_t max_splits = (K + 255) / 256;
  if (splits > max_splits) splits = max_splits;
  return splits < 1 ? 1 : splits;
}

int64_t weight_grad_chunk(int64_t K, int64_t splits) {
  const int64_t chunk = (K + splits - 1) / splits;
  return (chunk + kBK - 1) / kBK * kBK;
}

}  // namespace

void matmul_f32(float* c, const float* a, const float* b, int64_t batch, int64_t m, int64_t n,
                int64_t k, bool ta, bool tb, Stream stream) {
  igemm("matmul_f32", m, n, k, batch, MatA{a, m, k, ta}, MatB{b, k, n, tb}, MatC{c, m, n},
        stream);
}

void conv2d_forward_f32(float* y, const float* x, const float* w, const float* bias,
                        const ConvShape& s, Stream stream) {
  igemm("conv2d_forward_f32", s.c_out, s.n * s.h_out * s.w_out, s.c_in * s.kh * s.kw, 1,
        WeightA{w, s.c_in * s.kh * s.kw}, Im2colB{x, s}, ConvOutC{y, bias, s.c_out, s.h_out * s.w_out},
        stream);
}

void conv2d_input_grad_f32(float* dx, const float* dy, const float* w, const float* bias,
                           const ConvShape& s, Stream stream) {
  if (s.h_out == 1 && s.w_out == 1 && s.pad_h == 0 && s.pad_w == 0 && s.kh == s.h && s.kw == s.w) {
    const int64_t cols = s.c_in * s.kh * s.kw;
    igemm("conv2d_input_grad_f32 (1x1)", s.n, cols, s.c_out, 1, MatA{dy, s.n, s.c_out, false},
          MatB{w, s.c_out, cols, false}, RowBiasC{dx, bias, cols, s.kh * s.kw}, stream);
    return;
  }
  if (s.stride_h == 1 && s.stride_w == 1) {  // one phase: the plain gather wastes nothing more
    igemm("conv2d_input_grad_f32", s.c_in, s.n * s.h * s.w, s.c_out * s.kh * s.kw, 1,
          WeightTA{w, s.c_in, s.kh * s.kw}, Col2imB{dy, s}, ConvOutC{dx, bias, s.c_in, s.h * s.w},
          stream);
    return;
  }
  for (int64_t ph = 0; ph < s.stride_h; ++ph)
    for (int64_t pw = 0; pw < s.stride_w; ++pw) {
      const Phase p = make_phase(s, ph, pw);
      // A phase with no taps (kernel smaller than the stride) still writes its pixels: bias or 0.
      igemm("conv2d_input_grad_f32 (phase)", s.c_in, s.n * p.th * p.tw, s.c_out * p.ra * p.rb, 1,
            PhaseWeightA{w, s.c_in, s.kh, s.kw, p}, PhaseDyB{dy, s, p},
            PhaseOutC{dx, bias, s.c_in, s.h, s.w, p}, stream);
    }
}

int64_t conv2d_weight_grad_workspace(const ConvShape& s) {
  const int64_t M = s.c_out, N = s.c_in * s.kh * s.kw, K = s.n * s.h_out * s.w_out;
  const int64_t splits = weight_grad_splits(M, N, K);
  return splits > 1 ? splits * M * N : 0;
}

void conv2d_weight_grad_f32(float* dw, const float* x, const float* dy, const ConvShape& s,
                            float* workspace, Stream stream) {
  const int64_t M = s.c_out, N = s.c_in * s.kh * s.kw, K = s.n * s.h_out * s.w_out;
  const int64_t splits = weight_grad_splits(M, N, K);
  const DyA a{dy, s.c_out, s.h_out * s.w_out};
  const Im2colTB b{x, s};
  if (splits == 1) {
    igemm("conv2d_weight_grad_f32", M, N, K, 1, a, b, MatC{dw, M, N}, stream);
    return;
  }
  const int64_t chunk = weight_grad_chunk(K, splits);
  const int64_t used = (K + chunk - 1) / chunk;  // chunks that hold any of K
  const dim3 grid(blocks_for(N, kBN), blocks_for(M, kBM), unsigned(used));
  launch("conv2d_weight_grad_f32", igemm_kernel<DyA, Im2colTB, PartialC>, grid, dim3(kThreads),
         stream, M, N, K, chunk, true, a, b, PartialC{workspace, M, N});
  launch("conv2d_weight_grad_f32 (split sum)", sum_splits_kernel, dim3(blocks_for(M * N, 256)),
         dim3(256), stream, dw, static_cast<const float*>(workspace), M * N, used);
}

}  // namespace duel::kernels::DUEL_CUDA_NS
