// duel op NAME --in IN.safetensors --out OUT.safetensors [--attr key=value]... [--backward]
//              [--device cpu|cuda] [--cpu-path fast|reference] [--math fp32|tf32|bf16]
//
// Evaluates one op of the table on named tensors from a file, so any op can be cross-checked
// against another framework from the shell. Writes `out`; with --backward the input file also
// holds `grad_out` and the output gets `grad.<input>` for every differentiable floating-point
// input. Buffers an op updates in place (batch_norm's running statistics) are written back
// under their own names.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/autograd.h"
#include "core/config.h"
#include "core/op_table.h"
#include "nn/tensor_io.h"

namespace duel::cli {

namespace {
const Command kOp{
    "op",
    "Runs one op of the table on named tensors from a safetensors file.",
    "NAME",
    1,
    1,
    {text_flag("in", "IN.safetensors", "the input tensors, by the op's input names"),
     text_flag("out", "OUT.safetensors", "where to write `out` (and the gradients)"),
     repeatable(text_flag("attr", "KEY=VALUE", "an attribute of the op")),
     switch_flag("backward", "also the gradient of each differentiable input, given grad_out"),
     text_flag("device", "cpu|cuda", "where the op runs", "cpu"),
     choice_flag("cpu-path", {"fast", "reference"}, "which CPU kernels run", "fast"),
     choice_flag("math", {"fp32", "tf32", "bf16"}, "the arithmetic of matmul and convolutions (tf32, bf16: cuda only)",
                 "fp32")},
    "Inputs are read by name (input, other, weight, bias, target, running_mean, ...; cat's list as\n"
    "tensors.0, tensors.1, ...); see `duel ops` for each op's inputs and attributes. The output file\n"
    "gets `out`; with --backward the input file must hold `grad_out` and the output also gets\n"
    "grad.<input> for each differentiable input."};
}  // namespace

int cmd_op(int argc, char** argv) {
  const Args args(kOp, argc, argv, 2);
  if (args.help()) return print_help(kOp);
  const OpInfo& op = find_op(args.positional()[0]);
  const std::string in_path = args.required("in"), out_path = args.required("out");
  const Device device = parse_device(args.get_or("device", "cpu"));
  if (auto p = args.get("cpu-path")) set_cpu_path(parse_cpu_path(*p));
  const MathMode math = parse_math_mode(args.get_or("math", "fp32"));
  check_math_device(math, device.is_cpu());
  set_math_mode(math);
  const bool backward = args.has("backward");

  std::map<std::string, std::string> attrs;
  for (const std::string& kv : args.all("attr")) {
    const size_t eq = kv.find('=');
    DUEL_CHECK(eq != std::string::npos && eq > 0, "op: --attr expects key=value, got '", kv, "'");
    const std::string key = kv.substr(0, eq);
    DUEL_CHECK(!attrs.count(key), "op: attribute ", key, " given twice");
    attrs[key] = kv.substr(eq + 1);
  }

  std::map<std::string, Tensor> tensors = load_safetensors_map(in_path);
  Tensor grad_out;
  if (backward) {
    auto it = tensors.find("grad_out");
    DUEL_CHECK(it != tensors.end(), "op: --backward needs a tensor named grad_out in ", in_path);
    grad_out = it->second.to(device);
    tensors.erase(it);
  }
  for (auto& [name, t] : tensors) t = t.to(device);

  std::vector<std::string> wrt;
  std::vector<Tensor> wrt_tensors;
  if (backward) {
    wrt = differentiable_inputs(op, tensors);
    for (const std::string& name : wrt) {
      tensors[name].requires_grad_(true);
      wrt_tensors.push_back(tensors[name]);
    }
  }
  const Tensor out = run_op(op, tensors, attrs);

  NamedTensors results{{"out", out.detach()}};
  if (backward) {
    DUEL_CHECK(grad_out.shape() == out.shape() && grad_out.dtype() == out.dtype(), "op: grad_out ",
               describe(grad_out), " must match the output ", describe(out));
    DUEL_CHECK(out.requires_grad(), "op: ", op.name, "'s output does not depend on a differentiable input");
    const std::vector<Tensor> grads = grad({out}, wrt_tensors, {grad_out}, false, true);
    for (size_t i = 0; i < wrt.size(); ++i)
      results.emplace_back("grad." + wrt[i], grads[i].defined() ? grads[i] : zeros_like(wrt_tensors[i]));
  }
  for (const InputSpec& in : op.inputs)  // buffers, after any in-place update
    if (!in.differentiable && in.kind == InputKind::optional_tensor && tensors.count(in.name))
      results.emplace_back(in.name, tensors[in.name]);
  save_safetensors(out_path, results, {{"op", op.name}});
  return 0;
}

}  // namespace duel::cli
