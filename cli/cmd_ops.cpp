// duel ops [--json]: the op table.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/op_table.h"

namespace duel::cli {

namespace {

const char* input_kind(InputKind k) {
  switch (k) {
    case InputKind::tensor: return "tensor";
    case InputKind::optional_tensor: return "optional tensor";
    case InputKind::tensor_list: return "tensor list";
    case InputKind::indices: return "i64 indices";
  }
  return "?";
}

const char* attr_kind(AttrKind k) {
  switch (k) {
    case AttrKind::integer: return "int";
    case AttrKind::real: return "float";
    case AttrKind::boolean: return "bool";
    case AttrKind::ints: return "ints";
    case AttrKind::pair: return "int pair";
    case AttrKind::reduction: return "reduction";
  }
  return "?";
}

nlohmann::json devices_json(const OpInfo& op) {
  nlohmann::json d = nlohmann::json::object();
  for (auto [dev, name] : {std::pair{DeviceType::cpu, "cpu"}, std::pair{DeviceType::cuda, "cuda"}}) {
    nlohmann::json dts = nlohmann::json::array();
    for (DType t : {DType::f32, DType::f64})
      if (supports(op, dev, t)) dts.push_back(std::string(dtype_name(t)));
    d[name] = dts;
  }
  return d;
}

}  // namespace

namespace {
const Command kOps{"ops",
                   "Lists every op: inputs, attributes with defaults, the devices and dtypes it runs on, and\n"
                   "whether it has a backward and a double backward.",
                   "", 0, 0, {switch_flag("json", "machine-readable output")}, ""};
}  // namespace

int cmd_ops(int argc, char** argv) {
  const Args args(kOps, argc, argv, 2);
  if (args.help()) return print_help(kOps);
  if (args.has("json")) {
    nlohmann::json ops = nlohmann::json::array();
    for (const OpInfo& op : op_table()) {
      nlohmann::json j;
      j["name"] = op.name;
      j["summary"] = op.summary;
      j["inputs"] = nlohmann::json::array();
      for (const InputSpec& in : op.inputs)
        j["inputs"].push_back({{"name", in.name},
                               {"kind", input_kind(in.kind)},
                               {"differentiable", in.differentiable}});
      j["attributes"] = nlohmann::json::array();
      for (const AttrSpec& a : op.attrs) {
        nlohmann::json aj{{"name", a.name}, {"type", attr_kind(a.kind)}, {"required", !a.has_default}};
        aj["default"] = a.has_default ? nlohmann::json(a.default_value) : nlohmann::json(nullptr);
        j["attributes"].push_back(aj);
      }
      j["devices"] = devices_json(op);
      j["backward"] = op.has_backward;
      j["double_backward"] = op.has_double_backward;
      ops.push_back(j);
    }
    std::puts(nlohmann::json{{"ops", ops}, {"count", ops.size()}}.dump(2).c_str());
    return 0;
  }
  std::printf("%-33s %-9s %-9s %s\n", "op", "cpu", "cuda", "inputs / attributes");
  for (const OpInfo& op : op_table()) {
    std::string ins, attrs;
    for (const InputSpec& in : op.inputs)
      ins += (ins.empty() ? "" : ", ") + in.name + (in.kind == InputKind::optional_tensor ? "?" : "") +
             (in.kind == InputKind::tensor_list ? "[]" : "");
    for (const AttrSpec& a : op.attrs)
      attrs += (attrs.empty() ? "" : ", ") + a.name + (a.has_default ? "=" + a.default_value : "");
    auto devs = [&](DeviceType d) {
      std::string s;
      for (DType t : {DType::f32, DType::f64})
        if (supports(op, d, t)) {
          if (!s.empty()) s += ',';
          s += dtype_name(t);
        }
      return s.empty() ? std::string("-") : s;
    };
    std::printf("%-33s %-9s %-9s %s%s%s\n", op.name.c_str(), devs(DeviceType::cpu).c_str(),
                devs(DeviceType::cuda).c_str(), ins.c_str(), attrs.empty() ? "" : " | ",
                attrs.c_str());
  }
  std::printf("%zu ops; every one has a first and a second derivative (duel gradcheck --all).\n",
              op_table().size());
  return 0;
}

}  // namespace duel::cli
