// CPU kernels on GAN layer shapes: the fast path against the reference loops, in the same run.
// Each benchmark reports GFLOP/s. fast/... is the fast path's automatic choice per pass; im2col/...
// and direct/... force one algorithm (im2col + Eigen GEMM, or the direct convolution of
// kernels/cpu/conv_direct.h where the CPU has AVX2+FMA); reference/... runs the reference loops
// (dcgan28 only: they take seconds per iteration on dcgan64). bf16/... is the fast path under
// --math bf16 (BF16 operands, FP32 sums), where the CPU has AVX512_BF16.
//
//   build/bench/duel_bench_cpu [--benchmark_filter=dcgan28]
#include <benchmark/benchmark.h>
#include <cstdint>
#include <string>

#include <vector>

#include "bench/gan_shapes.h"
#include "core/random.h"
#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/reference/reference.h"

namespace {

using duel::kernels::ConvShape;
enum class Pass { forward, input_grad, weight_grad };
enum class Path { fast, im2col, direct, bf16, reference };
const char* path_name(Path p) {
  return p == Path::fast     ? "fast/"
         : p == Path::im2col ? "im2col/"
         : p == Path::direct ? "direct/"
         : p == Path::bf16   ? "bf16/"
                             : "reference/";
}

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  duel::Generator g(seed);
  const std::vector<double> v = duel::randn({n}, g, duel::DType::f64).to_vector();
  return std::vector<float>(v.begin(), v.end());
}

// A layer's three passes as the training step runs them. For a transposed (generator) layer the
// forward is conv2d_input_grad and the input gradient is conv2d_forward.
void run_conv(benchmark::State& state, duel::bench::ConvLayer layer, Pass pass, Path path) {
  const ConvShape& s = layer.s;
  const auto x = random_floats(s.n * s.c_in * s.h * s.w, 1);
  const auto w = random_floats(s.c_out * s.c_in * s.kh * s.kw, 2);
  const auto y = random_floats(s.n * s.c_out * s.h_out * s.w_out, 3);
  std::vector<float> out_x(x.size()), out_y(y.size()), out_w(w.size());
  const bool gemm_like_forward = (pass == Pass::forward) != layer.transposed;  // conv2d_forward
  namespace cpu = duel::kernels::cpu;
  cpu::set_conv_algo(path == Path::im2col   ? cpu::ConvAlgo::im2col
                     : path == Path::direct ? cpu::ConvAlgo::direct
                                            : cpu::ConvAlgo::automatic);
  const duel::kernels::MathMode math = path == Path::bf16 ? duel::kernels::MathMode::bf16 : duel::kernels::MathMode::fp32;
  const float* no_bias = nullptr;
  for (auto _ : state) {
    if (path == Path::reference) {
      if (pass == Pass::weight_grad) duel::kernels::reference::conv2d_weight_grad(out_w.data(), x.data(), y.data(), s);
      else if (gemm_like_forward) duel::kernels::reference::conv2d_forward(out_y.data(), x.data(), w.data(), no_bias, s);
      else duel::kernels::reference::conv2d_input_grad(out_x.data(), y.data(), w.data(), no_bias, s);
    } else {
      if (pass == Pass::weight_grad) cpu::conv2d_weight_grad(out_w.data(), x.data(), y.data(), s, math);
      else if (gemm_like_forward) cpu::conv2d_forward(out_y.data(), x.data(), w.data(), no_bias, s, math);
      else cpu::conv2d_input_grad(out_x.data(), y.data(), w.data(), no_bias, s, math);
    }
    benchmark::ClobberMemory();
  }
  cpu::set_conv_algo(cpu::ConvAlgo::automatic);
  state.counters["GFLOP/s"] = benchmark::Counter(duel::bench::conv_flops(s) * double(state.iterations()) / 1e9,
                                                 benchmark::Counter::kIsRate);
}

void register_all() {
  const char* pass_names[] = {"forward", "input_grad", "weight_grad"};
  for (Path path : {Path::fast, Path::im2col, Path::direct, Path::bf16, Path::reference}) {
    if (path == Path::direct && duel::kernels::cpu::direct_isa_available() == duel::kernels::cpu::DirectIsa::none)
      continue;
    if (path == Path::bf16 && !duel::kernels::cpu::cpu_has_avx512_bf16()) continue;
    std::vector<duel::bench::ConvLayer> layers = duel::bench::dcgan28_layers();
    if (path != Path::reference)
      for (auto& l : duel::bench::dcgan64_layers()) layers.push_back(l);
    for (const auto& layer : layers)
      for (Pass pass : {Pass::forward, Pass::input_grad, Pass::weight_grad}) {
        const std::string name = std::string(path_name(path)) + layer.name +
                                 "/" + pass_names[int(pass)];
        auto* b = benchmark::RegisterBenchmark(name.c_str(), run_conv, layer, pass, path);
        b->Unit(benchmark::kMillisecond)->UseRealTime();
        if (path == Path::reference) b->Iterations(1);
      }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
