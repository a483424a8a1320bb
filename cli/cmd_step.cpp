// duel step --model dcgan28 --loss ns|wgan-gp --critic-norm ... --init DIR --batch FILE --dump FILE
//
// One training iteration on given weights and inputs, for inspection and cross-checking:
// fake = G(z); the D update (with eps for wgan-gp) and its optimiser step; the G update through
// the updated D and its optimiser step; default hyper-parameters, all modules in training mode.
// The dump holds loss_D, loss_G, gp, D.grad.<name> and G.grad.<name> (the gradients each update
// used) and every parameter and buffer after the iteration as D.<name> and G.<name>.
// On cuda the iteration is captured as one CUDA graph and that graph is launched (--cuda-graph
// on, the default there): the dump then shows what a replayed step computes, which must equal
// the eager step (--cuda-graph off) bit for bit.
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/cuda_backend.h"
#include "gan/step.h"
#include "gan/step_graph.h"
#include "nn/tensor_io.h"

namespace duel::cli {

namespace {
Command make_step_command() {
  Command c{"step",
            "One training iteration on given weights and inputs, dumped for inspection and cross-checks.",
            "",
            0,
            0,
            {},
            "The latent size and channels follow the batch file's z and real.\n"
            "On cuda the iteration runs as one captured CUDA graph (its bytes are those of the eager\n"
            "iteration) unless --cuda-graph off."};
  for (const Flag& f : model_flags())
    if (f.name != "nz") c.flags.push_back(f);
  for (Flag f : {choice_flag("loss", {"minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan"}, "the loss (required)"),
                 choice_flag("critic-norm", {"batchnorm", "none", "layernorm"}, "the critic's normalisation",
                             "none for wgan-gp, else batchnorm"),
                 text_flag("init", "DIR", "holds G.safetensors and D.safetensors (required)"),
                 text_flag("batch", "FILE", "real [B,C,S,S], z [B,nz,1,1] and, for wgan-gp, eps [B,1,1,1]"),
                 text_flag("dump", "FILE", "where to write losses, gradients and weights (safetensors)"),
                 text_flag("device", "cpu|cuda", "where the step runs", "cpu"),
                 choice_flag("math", {"fp32", "tf32", "bf16"},
                             "the arithmetic of matmul and convolutions (tf32: cuda only; bf16: cuda, or a cpu with AVX512_BF16)", "fp32"),
                 choice_flag("cuda-graph", {"on", "off"}, "on cuda, the iteration as one captured CUDA graph",
                             "on for cuda")})
    c.flags.push_back(f);
  return c;
}
}  // namespace

int cmd_step(int argc, char** argv) {
  static const Command kStep = make_step_command();
  const Args args(kStep, argc, argv, 2);
  if (args.help()) return print_help(kStep);
  const Device device = parse_device(args.get_or("device", "cpu"));
  cuda_backend::check_usable(device);
  const MathMode math = parse_math_mode(args.get_or("math", "fp32"));  // exact by default: a cross-check
  check_math_device(math, device.is_cpu());
  std::string graph_note;
  const bool graph = gan::decide_cuda_graph("step", gan::parse_cuda_graph(args.get("cuda-graph")), device,
                                            gan::ModelConfig{}, &graph_note);
  const gan::LossKind loss = gan::parse_loss(args.required("loss"));
  const std::string batch_path = args.required("batch"), init = args.required("init");
  const std::string dump = args.required("dump");
  std::map<std::string, Tensor> batch = load_safetensors_map(batch_path);
  auto take = [&](const char* name, bool required) {
    auto it = batch.find(name);
    DUEL_CHECK(it != batch.end() || !required, "step: ", batch_path, " has no tensor '", name, "'");
    return it == batch.end() ? Tensor() : it->second;
  };
  const Tensor real = take("real", true), z = take("z", true);
  const Tensor eps = take("eps", loss == gan::LossKind::wgan_gp);
  DUEL_CHECK(is_floating(real.dtype()) && real.dim() == 4, "step: real must be [B, C, S, S], got ", describe(real));
  DUEL_CHECK(z.dtype() == real.dtype() && z.dim() == 4 && z.size(0) == real.size(0), "step: z must be ",
             dtype_name(real.dtype()), " [", real.size(0), ", nz, 1, 1], got ", describe(z));

  gan::ModelConfig m;
  apply_model_flags(args, m);
  m.critic_norm = gan::parse_critic_norm(
      args.get_or("critic-norm", loss == gan::LossKind::wgan_gp ? "none" : "batchnorm"));
  m.channels = real.size(1);
  m.nz = z.size(1);
  DUEL_CHECK(real.size(2) == m.image_size() && real.size(3) == m.image_size(), "step: real is ", describe(real),
             " but ", gan::describe_model(m), " takes ", m.image_size(), "x", m.image_size(), " images");
  set_run_math_mode(math, device.is_cpu());
  gan::Gan g(m);
  if (real.dtype() == DType::f64) {  // the dtype follows the inputs (float64 for cross-checks)
    g.G().to_dtype(DType::f64);
    g.D().to_dtype(DType::f64);
  }
  nn::load_module(g.G(), init + "/G.safetensors", "G");
  nn::load_module(g.D(), init + "/D.safetensors", "D");
  g.G().to_device(device);  // before the optimisers take the parameters
  g.D().to_device(device);
  gan::GanStep step(g, gan::defaults_for(loss));

  // The inputs in device buffers of their own: a captured graph reads them there.
  const Tensor z_dev = z.to(device), real_dev = real.to(device), eps_dev = eps.defined() ? eps.to(device) : eps;
  gan::DStats d;
  gan::GStats gs;
  gan::GraphedStep graphed(device, graph, /*capture_first=*/true);
  graphed.run([&] {
    const Tensor fake = g.generate(z_dev);
    d = step.d_update(real_dev, Tensor(), fake, eps_dev);
    gs = step.g_update(fake, Tensor());
  });
  if (!graph_note.empty()) std::fprintf(stderr, "step: %s\n", graph_note.c_str());
  if (!graphed.fallback().empty()) std::fprintf(stderr, "step: CUDA graph off: %s; ran eagerly\n", graphed.fallback().c_str());

  NamedTensors out{{"loss_D", d.loss.detach()}, {"loss_G", gs.loss.detach()}};
  if (d.gp.defined()) out.emplace_back("gp", d.gp.detach());
  const NamedTensors dp = g.D().named_parameters(), gp = g.G().named_parameters();
  for (size_t i = 0; i < dp.size(); ++i) out.emplace_back("D.grad." + dp[i].first, d.grads[i]);
  for (size_t i = 0; i < gp.size(); ++i) out.emplace_back("G.grad." + gp[i].first, gs.grads[i]);
  for (auto& [n, t] : g.D().state()) out.emplace_back("D." + n, t.detach());
  for (auto& [n, t] : g.G().state()) out.emplace_back("G." + n, t.detach());
  save_safetensors(dump, out, {{"loss", gan::loss_name(loss)}});
  std::printf("loss_D %.9g  loss_G %.9g%s -> %s\n", d.loss.item(), gs.loss.item(),
              d.gp.defined() ? ("  gp " + std::to_string(d.gp.item())).c_str() : "", dump.c_str());
  return 0;
}

}  // namespace duel::cli
