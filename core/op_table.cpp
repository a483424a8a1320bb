#include "core/op_table.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <utility>

#include "core/cuda_backend.h"

namespace duel {

// ---------------------------------------------------------------------------------------------
// Attribute parsing
// ---------------------------------------------------------------------------------------------

namespace {

bool parse_int(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

bool parse_real(const std::string& s, double* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (errno == ERANGE || end != s.c_str() + s.size() || std::isnan(v)) return false;
  *out = v;
  return true;
}

bool parse_ints(const std::string& s, std::vector<int64_t>* out) {
  out->clear();
  if (s.empty()) return true;
  size_t pos = 0;
  while (true) {
    const size_t comma = s.find(',', pos);
    int64_t v;
    if (!parse_int(s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos), &v))
      return false;
    out->push_back(v);
    if (comma == std::string::npos) return true;
    pos = comma + 1;
  }
}

const char* kind_hint(AttrKind k) {
  switch (k) {
    case AttrKind::integer: return "an integer";
    case AttrKind::real: return "a number";
    case AttrKind::boolean: return "0 or 1";
    case AttrKind::ints: return "comma-separated integers";
    case AttrKind::pair: return "an integer or two separated by a comma (height,width)";
    case AttrKind::reduction: return "none, mean or sum";
  }
  return "?";
}

bool valid_value(AttrKind k, const std::string& v) {
  int64_t i;
  double d;
  std::vector<int64_t> list;
  switch (k) {
    case AttrKind::integer: return parse_int(v, &i);
    case AttrKind::real: return parse_real(v, &d);
    case AttrKind::boolean: return v == "0" || v == "1" || v == "true" || v == "false";
    case AttrKind::ints: return parse_ints(v, &list);
    case AttrKind::pair: return parse_ints(v, &list) && (list.size() == 1 || list.size() == 2);
    case AttrKind::reduction: return v == "none" || v == "mean" || v == "sum";
  }
  return false;
}

}  // namespace

std::map<std::string, std::string> resolve_attrs(const OpInfo& op,
                                                 const std::map<std::string, std::string>& given) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : given) {
    const AttrSpec* spec = nullptr;
    for (const AttrSpec& a : op.attrs)
      if (a.name == name) spec = &a;
    if (!spec) {
      std::string known;
      for (const AttrSpec& a : op.attrs) known += (known.empty() ? "" : ", ") + a.name;
      fail(op.name, ": unknown attribute '", name, "' (", op.name, " takes ",
           known.empty() ? std::string("no attributes") : known, ")");
    }
    DUEL_CHECK(valid_value(spec->kind, value), op.name, ": attribute ", name, "='", value,
               "' is not ", kind_hint(spec->kind));
    out[name] = value;
  }
  for (const AttrSpec& a : op.attrs) {
    if (out.count(a.name)) continue;
    DUEL_CHECK(a.has_default, op.name, ": missing attribute ", a.name, " (", kind_hint(a.kind), ")");
    out[a.name] = a.default_value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// OpCall accessors (attributes were validated by resolve_attrs)
// ---------------------------------------------------------------------------------------------

Tensor OpCall::input(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? Tensor() : it->second;
}

std::vector<Tensor> OpCall::list(const std::string& name) const {
  std::vector<Tensor> out;
  for (size_t i = 0;; ++i) {
    auto it = tensors.find(name + "." + std::to_string(i));
    if (it == tensors.end()) return out;
    out.push_back(it->second);
  }
}

int64_t OpCall::integer(const std::string& name) const {
  int64_t v = 0;
  parse_int(attrs.at(name), &v);
  return v;
}

double OpCall::real(const std::string& name) const {
  double v = 0;
  parse_real(attrs.at(name), &v);
  return v;
}

bool OpCall::boolean(const std::string& name) const {
  const std::string& v = attrs.at(name);
  return v == "1" || v == "true";
}

std::vector<int64_t> OpCall::ints(const std::string& name) const {
  std::vector<int64_t> v;
  parse_ints(attrs.at(name), &v);
  return v;
}

Int2 OpCall::pair(const std::string& name) const {
  const std::vector<int64_t> v = ints(name);
  return v.size() == 1 ? Int2{v[0], v[0]} : Int2{v[0], v[1]};
}

Reduction OpCall::reduction(const std::string& name) const { return parse_reduction(attrs.at(name)); }

// ---------------------------------------------------------------------------------------------
// Sample inputs
// ---------------------------------------------------------------------------------------------

namespace {

// Draws sample tensors of one dtype. Values are kept away from kinks by more than the
// finite-difference step, so numerical derivatives are meaningful.
struct Draw {
  DType t;
  Generator& g;

  Tensor normal(const Shape& s) const { return randn(s, g, t); }
  Tensor uniform(const Shape& s, double lo, double hi) const { return duel::uniform(s, lo, hi, g, t); }
  // |x| in [lo, hi] with a random sign.
  Tensor signed_uniform(const Shape& s, double lo, double hi) const {
    std::vector<double> mag = duel::uniform(s, lo, hi, g, DType::f64).to_vector();
    const std::vector<double> coin = duel::uniform(s, 0, 1, g, DType::f64).to_vector();
    for (size_t i = 0; i < mag.size(); ++i)
      if (coin[i] < 0.5) mag[i] = -mag[i];
    return from_vector(mag, s, t);
  }
  // Uniform in [lo, hi], moved at least `margin` away from each of `points`.
  Tensor avoiding(const Shape& s, double lo, double hi, std::vector<double> points,
                  double margin) const {
    std::vector<double> v = duel::uniform(s, lo, hi, g, DType::f64).to_vector();
    for (double& x : v)
      for (double p : points)
        if (std::abs(x - p) < margin) x = x < p ? p - margin : p + margin;
    return from_vector(v, s, t);
  }
  // i64 indices in [0, n).
  Tensor indices(const Shape& s, int64_t n) const {
    std::vector<double> v = duel::uniform(s, 0, double(n), g, DType::f64).to_vector();
    for (double& x : v) x = std::min(std::floor(x), double(n - 1));
    return from_vector(v, s, DType::i64);
  }
};

using Tensors = std::map<std::string, Tensor>;
using Attrs = std::map<std::string, std::string>;

InputSpec In(const char* name) { return {name, InputKind::tensor, true}; }
InputSpec Opt(const char* name) { return {name, InputKind::optional_tensor, true}; }
InputSpec Buffer(const char* name) { return {name, InputKind::optional_tensor, false}; }
InputSpec Idx(const char* name) { return {name, InputKind::indices, false}; }
InputSpec List(const char* name) { return {name, InputKind::tensor_list, true}; }
AttrSpec A(const char* name, AttrKind k, const char* def) { return {name, k, def, true}; }
AttrSpec Required(const char* name, AttrKind k) { return {name, k, "", false}; }

using SampleFn = std::function<std::vector<Sample>(DType, Generator&)>;
using RunFn = std::function<Tensor(const OpCall&)>;

OpInfo entry(OpId id, const char* name, const char* summary, std::vector<InputSpec> inputs,
             std::vector<AttrSpec> attrs, RunFn run, SampleFn samples) {
  OpInfo op;
  op.id = id;
  op.name = name;
  op.summary = summary;
  op.inputs = std::move(inputs);
  op.attrs = std::move(attrs);
  op.run = std::move(run);
  op.samples = std::move(samples);
  return op;
}

// Samples for a binary broadcasting op; `other` draws the second operand.
SampleFn binary_samples(bool nonzero_other) {
  return [nonzero_other](DType t, Generator& g) {
    const Draw d{t, g};
    auto other = [&](const Shape& s) {
      return nonzero_other ? d.signed_uniform(s, 0.5, 2.0) : d.normal(s);
    };
    return std::vector<Sample>{
        {"[3,5] . [3,5]", {{"input", d.normal({3, 5})}, {"other", other({3, 5})}}, {}},
        {"[2,3,4] . [3,1]", {{"input", d.normal({2, 3, 4})}, {"other", other({3, 1})}}, {}},
        {"[4,1,3] . [5,1]", {{"input", d.normal({4, 1, 3})}, {"other", other({5, 1})}}, {}},
        {"[] . [2,3]", {{"input", d.normal({})}, {"other", other({2, 3})}}, {}},
    };
  };
}

// Samples for a unary op with inputs drawn by `draw`.
SampleFn unary_samples(std::function<Tensor(const Draw&, const Shape&)> draw, Attrs attrs = {},
                       std::vector<Attrs> more_attrs = {}) {
  return [draw, attrs, more_attrs](DType t, Generator& g) {
    const Draw d{t, g};
    std::vector<Sample> out{{"[3,5]", {{"input", draw(d, {3, 5})}}, attrs},
                            {"[2,3,7]", {{"input", draw(d, {2, 3, 7})}}, attrs}};
    for (const Attrs& a : more_attrs) {
      std::string label = "[4,3]";
      for (const auto& [k, v] : a) label += " " + k + "=" + v;
      out.push_back({label, {{"input", draw(d, {4, 3})}}, a});
    }
    return out;
  };
}

// A piecewise-linear op's backward: grad_output and an input away from its kinks.
SampleFn mask_samples(std::function<Tensor(const Draw&, const Shape&)> draw, Attrs attrs) {
  return [draw, attrs](DType t, Generator& g) {
    const Draw d{t, g};
    return std::vector<Sample>{
        {"[3,5]", {{"grad_output", d.normal({3, 5})}, {"input", draw(d, {3, 5})}}, attrs},
        {"[2,3,4]", {{"grad_output", d.normal({2, 3, 4})}, {"input", draw(d, {2, 3, 4})}}, attrs}};
  };
}

Tensor opt(const OpCall& c, const char* name) { return c.input(name); }

std::vector<OpInfo> build_table() {
  std::vector<OpInfo> t;
  const auto R = AttrKind::real;
  const auto I = AttrKind::integer;
  const auto B = AttrKind::boolean;
  const auto L = AttrKind::ints;
  const auto P = AttrKind::pair;
  const auto Red = AttrKind::reduction;

  // ----- binary ---------------------------------------------------------------------------------
  t.push_back(entry(OpId::add, "add", "input + other, broadcasting", {In("input"), In("other")}, {},
                    [](const OpCall& c) { return add(c.input("input"), c.input("other")); },
                    binary_samples(false)));
  t.push_back(entry(OpId::sub, "sub", "input - other, broadcasting", {In("input"), In("other")}, {},
                    [](const OpCall& c) { return sub(c.input("input"), c.input("other")); },
                    binary_samples(false)));
  t.push_back(entry(OpId::mul, "mul", "input * other, broadcasting", {In("input"), In("other")}, {},
                    [](const OpCall& c) { return mul(c.input("input"), c.input("other")); },
                    binary_samples(false)));
  t.push_back(entry(OpId::div, "div", "input / other, broadcasting", {In("input"), In("other")}, {},
                    [](const OpCall& c) { return div(c.input("input"), c.input("other")); },
                    binary_samples(true)));

  // ----- unary ----------------------------------------------------------------------------------
  auto normal = [](const Draw& d, const Shape& s) { return d.normal(s); };
  auto positive = [](const Draw& d, const Shape& s) { return d.uniform(s, 0.5, 2.0); };
  auto off_zero = [](const Draw& d, const Shape& s) { return d.signed_uniform(s, 0.05, 2.0); };
  auto off_clamp = [](const Draw& d, const Shape& s) {
    return d.avoiding(s, -1.5, 1.5, {-0.5, 0.7}, 0.05);
  };
  t.push_back(entry(OpId::neg, "neg", "-input", {In("input")}, {},
                    [](const OpCall& c) { return neg(c.input("input")); }, unary_samples(normal)));
  t.push_back(entry(OpId::exp, "exp", "e^input", {In("input")}, {},
                    [](const OpCall& c) { return exp(c.input("input")); }, unary_samples(normal)));
  t.push_back(entry(OpId::log, "log", "natural logarithm", {In("input")}, {},
                    [](const OpCall& c) { return log(c.input("input")); }, unary_samples(positive)));
  t.push_back(entry(OpId::sqrt, "sqrt", "square root", {In("input")}, {},
                    [](const OpCall& c) { return sqrt(c.input("input")); }, unary_samples(positive)));
  t.push_back(entry(OpId::pow, "pow", "input^exponent (scalar exponent)", {In("input")},
                    {Required("exponent", R)},
                    [](const OpCall& c) { return pow(c.input("input"), c.real("exponent")); },
                    unary_samples(positive, {{"exponent", "2"}},
                                  {{{"exponent", "3"}}, {{"exponent", "-0.5"}}, {{"exponent", "0.7"}}})));
  t.push_back(entry(OpId::abs, "abs", "|input|", {In("input")}, {},
                    [](const OpCall& c) { return abs(c.input("input")); }, unary_samples(off_zero)));
  t.push_back(entry(OpId::sign, "sign", "-1, 0 or 1 (derivative 0)", {In("input")}, {},
                    [](const OpCall& c) { return sign(c.input("input")); }, unary_samples(off_zero)));
  t.push_back(entry(OpId::clamp, "clamp", "min(max(input, min), max)", {In("input")},
                    {A("min", R, "-inf"), A("max", R, "inf")},
                    [](const OpCall& c) { return clamp(c.input("input"), c.real("min"), c.real("max")); },
                    unary_samples(off_clamp, {{"min", "-0.5"}, {"max", "0.7"}},
                                  {{{"min", "-0.5"}}, {{"max", "0.7"}}})));
  t.push_back(entry(OpId::clamp_backward, "clamp_backward",
                    "grad_output where min <= input <= max, else 0 (clamp's derivative)",
                    {In("grad_output"), In("input")}, {A("min", R, "-inf"), A("max", R, "inf")},
                    [](const OpCall& c) {
                      return clamp_backward(c.input("grad_output"), c.input("input"), c.real("min"),
                                            c.real("max"));
                    },
                    mask_samples(off_clamp, {{"min", "-0.5"}, {"max", "0.7"}})));
  t.push_back(entry(OpId::relu, "relu", "max(input, 0)", {In("input")}, {},
                    [](const OpCall& c) { return relu(c.input("input")); }, unary_samples(off_zero)));
  t.push_back(entry(OpId::leaky_relu, "leaky_relu", "input > 0 ? input : negative_slope * input",
                    {In("input")}, {A("negative_slope", R, "0.01")},
                    [](const OpCall& c) {
                      return leaky_relu(c.input("input"), c.real("negative_slope"));
                    },
                    unary_samples(off_zero, {{"negative_slope", "0.2"}}, {{}})));
  t.push_back(entry(OpId::leaky_relu_backward, "leaky_relu_backward",
                    "grad_output * (input > 0 ? 1 : negative_slope) (leaky_relu's derivative)",
                    {In("grad_output"), In("input")}, {A("negative_slope", R, "0.01")},
                    [](const OpCall& c) {
                      return leaky_relu_backward(c.input("grad_output"), c.input("input"),
                                                 c.real("negative_slope"));
                    },
                    mask_samples(off_zero, {{"negative_slope", "0.2"}})));
  t.push_back(entry(OpId::tanh, "tanh", "hyperbolic tangent", {In("input")}, {},
                    [](const OpCall& c) { return tanh(c.input("input")); }, unary_samples(normal)));
  t.push_back(entry(OpId::sigmoid, "sigmoid", "1 / (1 + e^-input)", {In("input")}, {},
                    [](const OpCall& c) { return sigmoid(c.input("input")); }, unary_samples(normal)));
  t.push_back(entry(OpId::softplus, "softplus",
                    "log(1 + e^(beta input)) / beta; input where beta input > threshold",
                    {In("input")}, {A("beta", R, "1"), A("threshold", R, "20")},
                    [](const OpCall& c) {
                      return softplus(c.input("input"), c.real("beta"), c.real("threshold"));
                    },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      // Both sides of the switch to the identity (beta x = threshold), kept apart.
                      return std::vector<Sample>{
                          {"[3,5]", {{"input", d.normal({3, 5})}}, {}},
                          {"[2,3,7] beta=2", {{"input", d.normal({2, 3, 7})}}, {{"beta", "2"}}},
                          {"[4,5] beta=0.5 threshold=1",
                           {{"input", d.avoiding({4, 5}, -4, 6, {2.0}, 0.05)}},
                           {{"beta", "0.5"}, {"threshold", "1"}}}};
                    }));

  // ----- reductions -----------------------------------------------------------------------------
  auto reduce_samples = [](DType t, Generator& g) {
    const Draw d{t, g};
    return std::vector<Sample>{
        {"[3,4,5] all", {{"input", d.normal({3, 4, 5})}}, {}},
        {"[3,4,5] dim=1", {{"input", d.normal({3, 4, 5})}}, {{"dim", "1"}}},
        {"[3,4,5] dim=0,2 keepdim", {{"input", d.normal({3, 4, 5})}}, {{"dim", "0,2"}, {"keepdim", "1"}}},
        {"[2,3,5,3] dim=0,2,3", {{"input", d.normal({2, 3, 5, 3})}}, {{"dim", "0,2,3"}}},
        {"[4,7] dim=-1", {{"input", d.normal({4, 7})}}, {{"dim", "-1"}}},
    };
  };
  t.push_back(entry(OpId::sum, "sum", "sum over dim (all elements when dim is empty)", {In("input")},
                    {A("dim", L, ""), A("keepdim", B, "0")},
                    [](const OpCall& c) { return sum(c.input("input"), c.ints("dim"), c.boolean("keepdim")); },
                    reduce_samples));
  t.push_back(entry(OpId::mean, "mean", "mean over dim (all elements when dim is empty)", {In("input")},
                    {A("dim", L, ""), A("keepdim", B, "0")},
                    [](const OpCall& c) { return mean(c.input("input"), c.ints("dim"), c.boolean("keepdim")); },
                    reduce_samples));

  // ----- shape ----------------------------------------------------------------------------------
  t.push_back(entry(OpId::reshape, "reshape", "the same elements in another shape (one size may be -1)",
                    {In("input")}, {Required("shape", L)},
                    [](const OpCall& c) { return reshape(c.input("input"), c.ints("shape")); },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"[3,4] -> [2,-1,3]", {{"input", d.normal({3, 4})}}, {{"shape", "2,-1,3"}}},
                          {"[2,3,5] -> [30]", {{"input", d.normal({2, 3, 5})}}, {{"shape", "30"}}}};
                    }));
  t.push_back(entry(OpId::broadcast_to, "broadcast_to", "input repeated along size-1 and new leading dims",
                    {In("input")}, {Required("size", L)},
                    [](const OpCall& c) { return broadcast_to(c.input("input"), c.ints("size")); },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"[3,1] -> [2,3,5]", {{"input", d.normal({3, 1})}}, {{"size", "2,3,5"}}},
                          {"[] -> [4]", {{"input", d.normal({})}}, {{"size", "4"}}},
                          {"[1,4,1] -> [3,4,2]", {{"input", d.normal({1, 4, 1})}}, {{"size", "3,4,2"}}}};
                    }));
  t.push_back(entry(OpId::cat, "cat", "concatenation along dim", {List("tensors")}, {A("dim", I, "0")},
                    [](const OpCall& c) { return cat(c.list("tensors"), c.integer("dim")); },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"[2,3]+[2,1]+[2,4] dim=1",
                           {{"tensors.0", d.normal({2, 3})}, {"tensors.1", d.normal({2, 1})},
                            {"tensors.2", d.normal({2, 4})}},
                           {{"dim", "1"}}},
                          {"[1,5]+[3,5] dim=0", {{"tensors.0", d.normal({1, 5})}, {"tensors.1", d.normal({3, 5})}}, {}},
                          {"[2,3,2]+[2,3,3] dim=-1",
                           {{"tensors.0", d.normal({2, 3, 2})}, {"tensors.1", d.normal({2, 3, 3})}},
                           {{"dim", "-1"}}}};
                    }));
  t.push_back(entry(OpId::narrow, "narrow", "elements start..start+length-1 along dim",
                    {In("input")}, {Required("dim", I), Required("start", I), Required("length", I)},
                    [](const OpCall& c) {
                      return narrow(c.input("input"), c.integer("dim"), c.integer("start"), c.integer("length"));
                    },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"[5,4] dim=0 1:4", {{"input", d.normal({5, 4})}}, {{"dim", "0"}, {"start", "1"}, {"length", "3"}}},
                          {"[3,7,2] dim=1 2:6", {{"input", d.normal({3, 7, 2})}}, {{"dim", "1"}, {"start", "2"}, {"length", "4"}}},
                          {"[3,5] dim=-1 0:2", {{"input", d.normal({3, 5})}}, {{"dim", "-1"}, {"start", "0"}, {"length", "2"}}}};
                    }));

  // ----- linear algebra -------------------------------------------------------------------------
  t.push_back(entry(OpId::matmul, "matmul",
                    "op(input) @ op(other), 2-D or batched 3-D; op transposes when transpose_a/b is 1",
                    {In("input"), In("other")}, {A("transpose_a", B, "0"), A("transpose_b", B, "0")},
                    [](const OpCall& c) {
                      return matmul(c.input("input"), c.input("other"), c.boolean("transpose_a"),
                                    c.boolean("transpose_b"));
                    },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"[3,4]@[4,5]", {{"input", d.normal({3, 4})}, {"other", d.normal({4, 5})}}, {}},
                          {"[4,3]^T@[4,5]", {{"input", d.normal({4, 3})}, {"other", d.normal({4, 5})}}, {{"transpose_a", "1"}}},
                          {"[3,4]@[5,4]^T", {{"input", d.normal({3, 4})}, {"other", d.normal({5, 4})}}, {{"transpose_b", "1"}}},
                          {"[4,3]^T@[5,4]^T", {{"input", d.normal({4, 3})}, {"other", d.normal({5, 4})}},
                           {{"transpose_a", "1"}, {"transpose_b", "1"}}},
                          {"[2,3,4]@[2,4,5]", {{"input", d.normal({2, 3, 4})}, {"other", d.normal({2, 4, 5})}}, {}}};
                    }));
  t.push_back(entry(OpId::linear, "linear", "input @ weight^T + bias", {In("input"), In("weight"), Opt("bias")}, {},
                    [](const OpCall& c) { return linear(c.input("input"), c.input("weight"), opt(c, "bias")); },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"[3,5] w[4,5] b[4]",
                           {{"input", d.normal({3, 5})}, {"weight", d.normal({4, 5})}, {"bias", d.normal({4})}}, {}},
                          {"[2,3,5] w[3,5]", {{"input", d.normal({2, 3, 5})}, {"weight", d.normal({3, 5})}}, {}}};
                    }));

  // ----- convolution ----------------------------------------------------------------------------
  t.push_back(entry(OpId::conv2d, "conv2d", "2-D convolution (cross-correlation), weight [C_out, C_in, kH, kW]",
                    {In("input"), In("weight"), Opt("bias")}, {A("stride", P, "1"), A("padding", P, "0")},
                    [](const OpCall& c) {
                      return conv2d(c.input("input"), c.input("weight"), opt(c, "bias"), c.pair("stride"),
                                    c.pair("padding"));
                    },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"x[2,3,7,6] w[4,3,3,2] b s=2,1 p=1,0",
                           {{"input", d.normal({2, 3, 7, 6})}, {"weight", d.normal({4, 3, 3, 2})}, {"bias", d.normal({4})}},
                           {{"stride", "2,1"}, {"padding", "1,0"}}},
                          {"x[1,2,5,5] w[3,2,3,3] p=1",
                           {{"input", d.normal({1, 2, 5, 5})}, {"weight", d.normal({3, 2, 3, 3})}}, {{"padding", "1"}}},
                          {"x[2,1,6,6] w[2,1,4,4] s=2 p=1 (dcgan)",
                           {{"input", d.normal({2, 1, 6, 6})}, {"weight", d.normal({2, 1, 4, 4})}},
                           {{"stride", "2"}, {"padding", "1"}}},
                          {"x[2,3,5,5] w[1,3,5,5] (to 1x1)",
                           {{"input", d.normal({2, 3, 5, 5})}, {"weight", d.normal({1, 3, 5, 5})}}, {}}};
                    }));
  t.push_back(entry(OpId::conv_transpose2d, "conv_transpose2d",
                    "2-D transposed convolution, weight [C_in, C_out, kH, kW]",
                    {In("input"), In("weight"), Opt("bias")},
                    {A("stride", P, "1"), A("padding", P, "0"), A("output_padding", P, "0")},
                    [](const OpCall& c) {
                      return conv_transpose2d(c.input("input"), c.input("weight"), opt(c, "bias"),
                                              c.pair("stride"), c.pair("padding"), c.pair("output_padding"));
                    },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"x[2,3,3,4] w[3,2,4,4] s=2 p=1 (dcgan)",
                           {{"input", d.normal({2, 3, 3, 4})}, {"weight", d.normal({3, 2, 4, 4})}},
                           {{"stride", "2"}, {"padding", "1"}}},
                          {"x[2,4,1,1] w[4,3,3,3] b (latent)",
                           {{"input", d.normal({2, 4, 1, 1})}, {"weight", d.normal({4, 3, 3, 3})}, {"bias", d.normal({3})}},
                           {}},
                          {"x[2,2,3,3] w[2,3,3,2] s=2,1 p=1,0 op=1,0",
                           {{"input", d.normal({2, 2, 3, 3})}, {"weight", d.normal({2, 3, 3, 2})}},
                           {{"stride", "2,1"}, {"padding", "1,0"}, {"output_padding", "1,0"}}}};
                    }));
  t.push_back(entry(OpId::conv2d_weight_grad, "conv2d_weight_grad",
                    "the weight gradient of conv2d(input, w) given grad_output: [C_out, C_in, kernel_size]",
                    {In("input"), In("grad_output")},
                    {Required("kernel_size", P), A("stride", P, "1"), A("padding", P, "0")},
                    [](const OpCall& c) {
                      return conv2d_weight_grad(c.input("input"), c.input("grad_output"), c.pair("kernel_size"),
                                                c.pair("stride"), c.pair("padding"));
                    },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"x[2,3,6,5] gy[2,4,3,4] k=3,2 s=2,1 p=1,0",
                           {{"input", d.normal({2, 3, 6, 5})}, {"grad_output", d.normal({2, 4, 3, 4})}},
                           {{"kernel_size", "3,2"}, {"stride", "2,1"}, {"padding", "1,0"}}},
                          {"x[1,2,5,5] gy[1,3,5,5] k=3 p=1",
                           {{"input", d.normal({1, 2, 5, 5})}, {"grad_output", d.normal({1, 3, 5, 5})}},
                           {{"kernel_size", "3"}, {"padding", "1"}}}};
                    }));

  // ----- upsampling -----------------------------------------------------------------------------
  t.push_back(entry(OpId::upsample_nearest2d, "upsample_nearest2d",
                    "nearest-neighbour upsampling by integer factors: [N,C,H,W] -> [N,C,H*sh,W*sw]",
                    {In("input")}, {A("scale_factor", P, "2")},
                    [](const OpCall& c) { return upsample_nearest2d(c.input("input"), c.pair("scale_factor")); },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"x[2,3,3,5] s=2 (dcgan)", {{"input", d.normal({2, 3, 3, 5})}}, {}},
                          {"x[1,2,4,3] s=3,1", {{"input", d.normal({1, 2, 4, 3})}}, {{"scale_factor", "3,1"}}},
                          {"x[3,1,2,2] s=1,4", {{"input", d.normal({3, 1, 2, 2})}}, {{"scale_factor", "1,4"}}}};
                    }));
  t.push_back(entry(OpId::upsample_nearest2d_backward, "upsample_nearest2d_backward",
                    "each sh x sw block of grad_output summed (upsample_nearest2d's derivative)",
                    {In("grad_output")}, {A("scale_factor", P, "2")},
                    [](const OpCall& c) {
                      return upsample_nearest2d_backward(c.input("grad_output"), c.pair("scale_factor"));
                    },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"g[2,3,6,10] s=2 (dcgan)", {{"grad_output", d.normal({2, 3, 6, 10})}}, {}},
                          {"g[1,2,9,5] s=3,1", {{"grad_output", d.normal({1, 2, 9, 5})}}, {{"scale_factor", "3,1"}}},
                          {"g[2,1,3,8] s=1,4", {{"grad_output", d.normal({2, 1, 3, 8})}}, {{"scale_factor", "1,4"}}}};
                    }));

  // ----- normalisation --------------------------------------------------------------------------
  t.push_back(entry(OpId::batch_norm, "batch_norm",
                    "normalise each channel by batch (training=1, updating running stats) or running statistics",
                    {In("input"), Buffer("running_mean"), Buffer("running_var"), Opt("weight"), Opt("bias")},
                    {A("training", B, "0"), A("momentum", R, "0.1"), A("eps", R, "1e-5")},
                    [](const OpCall& c) {
                      return batch_norm(c.input("input"), opt(c, "running_mean"), opt(c, "running_var"),
                                        opt(c, "weight"), opt(c, "bias"), c.boolean("training"),
                                        c.real("momentum"), c.real("eps"));
                    },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"train x[4,3,2,3] affine",
                           {{"input", d.normal({4, 3, 2, 3})}, {"running_mean", d.normal({3})},
                            {"running_var", d.uniform({3}, 0.5, 2)}, {"weight", d.uniform({3}, 0.5, 1.5)},
                            {"bias", d.normal({3})}},
                           {{"training", "1"}}},
                          {"train x[5,3] no affine, no running stats", {{"input", d.normal({5, 3})}}, {{"training", "1"}}},
                          {"eval x[3,4,5] affine",
                           {{"input", d.normal({3, 4, 5})}, {"running_mean", d.normal({4})},
                            {"running_var", d.uniform({4}, 0.5, 2)}, {"weight", d.normal({4})},
                            {"bias", d.normal({4})}},
                           {{"training", "0"}}}};
                    }));
  t.push_back(entry(OpId::layer_norm, "layer_norm", "normalise over the trailing normalized_shape dims",
                    {In("input"), Opt("weight"), Opt("bias")},
                    {Required("normalized_shape", L), A("eps", R, "1e-5")},
                    [](const OpCall& c) {
                      return layer_norm(c.input("input"), c.ints("normalized_shape"), opt(c, "weight"),
                                        opt(c, "bias"), c.real("eps"));
                    },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"x[3,4,5] shape=[5] affine",
                           {{"input", d.normal({3, 4, 5})}, {"weight", d.normal({5})}, {"bias", d.normal({5})}},
                           {{"normalized_shape", "5"}}},
                          {"x[2,3,4] shape=[3,4]", {{"input", d.normal({2, 3, 4})}}, {{"normalized_shape", "3,4"}}}};
                    }));

  // ----- softmax --------------------------------------------------------------------------------
  t.push_back(entry(OpId::log_softmax, "log_softmax", "x - log(sum(exp(x))) along dim, stably",
                    {In("input")}, {Required("dim", I)},
                    [](const OpCall& c) { return log_softmax(c.input("input"), c.integer("dim")); },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"[3,5] dim=1", {{"input", d.normal({3, 5}) * 3.0}}, {{"dim", "1"}}},
                          {"[2,3,4] dim=0", {{"input", d.normal({2, 3, 4})}}, {{"dim", "0"}}},
                          {"[2,3,4] dim=-1", {{"input", d.normal({2, 3, 4})}}, {{"dim", "-1"}}}};
                    }));

  // ----- losses ---------------------------------------------------------------------------------
  auto loss_samples = [](bool probability_target) {
    return [probability_target](DType t, Generator& g) {
      const Draw d{t, g};
      auto target = [&](const Shape& s) { return probability_target ? d.uniform(s, 0, 1) : d.normal(s); };
      std::vector<Sample> out;
      for (const char* r : {"mean", "sum", "none"}) {
        out.push_back({std::string("[3,5] ") + r, {{"input", d.normal({3, 5}) * 3.0}, {"target", target({3, 5})}},
                       {{"reduction", r}}});
      }
      return out;
    };
  };
  t.push_back(entry(OpId::binary_cross_entropy_with_logits, "binary_cross_entropy_with_logits",
                    "max(x,0) - x t + log(1 + e^-|x|), stable for any logit",
                    {In("input"), In("target")}, {A("reduction", Red, "mean")},
                    [](const OpCall& c) {
                      return binary_cross_entropy_with_logits(c.input("input"), c.input("target"),
                                                              c.reduction("reduction"));
                    },
                    loss_samples(true)));
  t.push_back(entry(OpId::mse_loss, "mse_loss", "(input - target)^2, reduced", {In("input"), In("target")},
                    {A("reduction", Red, "mean")},
                    [](const OpCall& c) {
                      return mse_loss(c.input("input"), c.input("target"), c.reduction("reduction"));
                    },
                    loss_samples(false)));
  t.push_back(entry(OpId::sample_norm_penalty, "sample_norm_penalty",
                    "mean over samples of (sqrt(sum of the sample's squares + eps) - target)^2 (WGAN-GP)",
                    {In("input")}, {A("target", R, "1"), A("eps", R, "1e-12")},
                    [](const OpCall& c) {
                      return sample_norm_penalty(c.input("input"), c.real("target"), c.real("eps"));
                    },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"[3,5]", {{"input", d.normal({3, 5}) * 0.4}}, {}},
                          {"[4,2,3,3] target=0.5", {{"input", d.normal({4, 2, 3, 3})}}, {{"target", "0.5"}}},
                          {"[5] eps=0.1", {{"input", d.normal({5})}}, {{"eps", "0.1"}}}};
                    }));

  // ----- embedding ------------------------------------------------------------------------------
  t.push_back(entry(OpId::embedding, "embedding", "rows of weight [num, dim] picked by i64 indices",
                    {Idx("input"), In("weight")}, {},
                    [](const OpCall& c) { return embedding(c.input("input"), c.input("weight")); },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"idx[2,3] w[5,4]", {{"input", d.indices({2, 3}, 5)}, {"weight", d.normal({5, 4})}}, {}},
                          {"idx[7] w[3,2]", {{"input", d.indices({7}, 3)}, {"weight", d.normal({3, 2})}}, {}}};
                    }));
  t.push_back(entry(OpId::embedding_backward, "embedding_backward",
                    "grad_output rows summed into [num_weights, dim] by index (embedding's derivative)",
                    {In("grad_output"), Idx("input")}, {Required("num_weights", I)},
                    [](const OpCall& c) {
                      return embedding_backward(c.input("grad_output"), c.input("input"), c.integer("num_weights"));
                    },
                    [](DType t, Generator& g) {
                      const Draw d{t, g};
                      return std::vector<Sample>{
                          {"g[2,3,4] idx[2,3] n=5", {{"grad_output", d.normal({2, 3, 4})}, {"input", d.indices({2, 3}, 5)}},
                           {{"num_weights", "5"}}},
                          {"g[7,2] idx[7] n=3", {{"grad_output", d.normal({7, 2})}, {"input", d.indices({7}, 3)}},
                           {{"num_weights", "3"}}}};
                    }));
  return t;
}

}  // namespace

const std::vector<OpInfo>& op_table() {
  static const std::vector<OpInfo> table = [] {
    std::vector<OpInfo> t = build_table();
    // Every OpId has exactly one entry, at its own index.
    DUEL_CHECK(int(t.size()) == kOpCount, "internal: the op table has ", t.size(), " entries for ",
               kOpCount, " op ids");
    for (int i = 0; i < kOpCount; ++i)
      DUEL_CHECK(int(t[size_t(i)].id) == i, "internal: op table entry ", i, " (", t[size_t(i)].name,
                 ") is out of order");
    return t;
  }();
  return table;
}

const OpInfo& op_info(OpId id) { return op_table()[size_t(id)]; }

const OpInfo& find_op(const std::string& name) {
  for (const OpInfo& op : op_table())
    if (op.name == name) return op;
  std::string known;
  for (const OpInfo& op : op_table()) known += (known.empty() ? "" : ", ") + op.name;
  fail("unknown op '", name, "' (known ops: ", known, ")");
}

bool supports(const OpInfo& op, DeviceType device, DType dtype) {
  (void)op;
  // The CPU backend runs every op in f32 and f64; the CUDA backend every op in f32, when the
  // build has it (or on the emulated device).
  if (device == DeviceType::cpu) return is_floating(dtype);
  return dtype == DType::f32 && (cuda_built() || cuda_backend::emulated());
}

Tensor run_op(const OpInfo& op, const std::map<std::string, Tensor>& tensors,
              const std::map<std::string, std::string>& attrs) {
  OpCall call;
  call.attrs = resolve_attrs(op, attrs);
  std::set<std::string> expected;
  for (const InputSpec& in : op.inputs) {
    if (in.kind == InputKind::tensor_list) {
      size_t n = 0;
      while (tensors.count(in.name + "." + std::to_string(n))) expected.insert(in.name + "." + std::to_string(n++));
      DUEL_CHECK(n > 0, op.name, ": missing input tensors ", in.name, ".0, ", in.name, ".1, ...");
      continue;
    }
    expected.insert(in.name);
    const bool present = tensors.count(in.name) && tensors.at(in.name).defined();
    DUEL_CHECK(present || in.kind == InputKind::optional_tensor, op.name, ": missing input '", in.name, "'");
  }
  for (const auto& [name, t] : tensors) {
    if (expected.count(name)) continue;
    std::string known;
    for (const InputSpec& in : op.inputs)
      known += (known.empty() ? "" : ", ") + in.name + (in.kind == InputKind::tensor_list ? ".N" : "");
    fail(op.name, ": unknown input '", name, "' (", op.name, " takes ", known, ")");
  }
  call.tensors = tensors;
  return op.run(call);
}

std::vector<std::string> differentiable_inputs(const OpInfo& op,
                                               const std::map<std::string, Tensor>& tensors) {
  std::vector<std::string> names;
  for (const InputSpec& in : op.inputs) {
    if (!in.differentiable) continue;
    if (in.kind == InputKind::tensor_list) {
      for (size_t i = 0; tensors.count(in.name + "." + std::to_string(i)); ++i)
        names.push_back(in.name + "." + std::to_string(i));
      continue;
    }
    auto it = tensors.find(in.name);
    if (it != tensors.end() && it->second.defined() && is_floating(it->second.dtype()))
      names.push_back(in.name);
  }
  return names;
}

}  // namespace duel
