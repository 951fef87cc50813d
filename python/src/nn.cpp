// nn (Module, GPT, Norm of every registered kind, their options) and optim (AdamW).
#include "normgrad/nn.h"

#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.h"
#include "normgrad/norm_kind.h"
#include "normgrad/optim.h"

namespace ngpy {
namespace {
using ng::Tensor;
using namespace nb::literals;

nb::dict as_dict(const ng::nn::NamedTensors& named) {
  nb::dict d;  // insertion-ordered: registration order, as in C++
  for (const auto& [name, t] : named) d[name.c_str()] = t;
  return d;
}

// Sets `key` on the first of `targets` (bound C++ structs, by reference) that has it, or
// as a kind-declared norm option (NormOptionSpec); anything else is a TypeError naming it.
void set_option(const std::vector<nb::handle>& targets, ng::NormOptions& norm_options,
                const std::string& key, nb::handle value, const char* what) {
  for (nb::handle t : targets) {
    if (nb::hasattr(t, key.c_str())) {
      nb::setattr(t, key.c_str(), value);
      return;
    }
  }
  if (ng::find_norm_option(key)) {
    norm_options.set(key, nb::cast<double>(value));
    return;
  }
  throw nb::type_error((std::string(what) + ": unknown option '" + key + "'").c_str());
}

ng::nn::NamedTensors named_of(nb::handle params) {
  if (nb::isinstance<ng::nn::Module>(params))
    return nb::cast<ng::nn::Module&>(params).named_parameters();
  ng::nn::NamedTensors out;
  if (nb::isinstance<nb::dict>(params)) {
    for (auto [k, v] : nb::borrow<nb::dict>(params))
      out.emplace_back(nb::cast<std::string>(k), nb::cast<Tensor>(v));
    return out;
  }
  return nb::cast<ng::nn::NamedTensors>(params);
}

}  // namespace

void bind_nn(nb::module_& m, nb::module_& nn, nb::module_& optim) {
  namespace nnn = ng::nn;
  // Options every kind reads: one attribute per NG_NORM_OPTIONS entry, from the X-macro.
  auto NO = nb::class_<ng::NormOptions>(nn, "NormOptions");
  NO.def(nb::init<>());
#define NG_NORM_ATTR(group, type, name, def, check, help) \
  NO.def_rw(#name, &ng::NormOptions::name, help);
  NG_NORM_OPTIONS(NG_NORM_ATTR)
#undef NG_NORM_ATTR
  NO.def_rw("affine", &ng::NormOptions::affine)
      .def_rw("bias", &ng::NormOptions::bias)
      .def_rw("extra", &ng::NormOptions::extra, "kind-declared options that differ from their init")
      .def("get", &ng::NormOptions::get, "name"_a)
      .def("set", &ng::NormOptions::set, "name"_a, "value"_a);

  nn.def("norm_kinds", &nnn::norm_kinds, "The names of every registered norm kind.");
  nn.def(
      "norm_option_names",
      [] {
        std::vector<std::string> names;
        for (const auto& s : ng::norm_option_specs()) names.push_back(s.name);
        return names;
      },
      "The options kinds declare themselves (set them as keyword arguments).");

  using LoadReport = nnn::Module::LoadReport;
  nb::class_<LoadReport>(nn, "LoadReport")
      .def_ro("missing", &LoadReport::missing)
      .def_ro("unexpected", &LoadReport::unexpected)
      .def_ro("mismatched", &LoadReport::mismatched)
      .def("ok", &LoadReport::ok)
      .def("__bool__", &LoadReport::ok)
      .def("__repr__", [](const LoadReport& r) { return "LoadReport(" + r.str() + ")"; });

  nb::class_<nnn::Module>(nn, "Module")
      .def(
          "forward",
          [](nnn::Module& mod, const Tensor& x) {
            nb::gil_scoped_release nogil;
            return mod.forward(x);
          },
          "x"_a)
      .def(
          "__call__",
          [](nnn::Module& mod, const Tensor& x) {
            nb::gil_scoped_release nogil;
            return mod(x);
          },
          "x"_a)
      .def("named_parameters",
           [](const nnn::Module& mod) { return as_dict(mod.named_parameters()); })
      .def("named_buffers", [](const nnn::Module& mod) { return as_dict(mod.named_buffers()); })
      .def("state_dict", &nnn::Module::state_dict,
           "name -> Tensor (parameters and buffers), detached, sharing their storage")
      .def(
          "load_state_dict",
          [](nnn::Module& mod, const ng::nn::StateDict& sd, bool strict) {
            nb::gil_scoped_release nogil;
            return mod.load_state_dict(sd, strict);
          },
          "state_dict"_a, "strict"_a = true,
          "Copies values in (handles stay valid). strict: any missing, unexpected or mis-shaped "
          "name is an error naming them all; otherwise the returned LoadReport lists them.")
      .def("parameters", &nnn::Module::parameters)
      .def("num_parameters", &nnn::Module::num_parameters)
      .def("zero_grad", &nnn::Module::zero_grad)
      .def("train", &nnn::Module::train, "on"_a = true)
      .def("eval", &nnn::Module::eval)
      .def_prop_ro("training", &nnn::Module::is_training)
      .def(
          "to",
          [](nnn::Module& mod, const std::string& s) {
            if (s == "cpu" || s == "cuda")
              mod.to(parse_device_name(s));
            else
              mod.to(parse_dtype(s));
          },
          "dtype_or_device"_a);

  // A norm layer of a registered kind: Norm("dyt", 64, alpha0=0.5).
  nb::class_<nnn::Norm, nnn::Module>(nn, "Norm")
      .def(
          "__init__",
          [](nnn::Norm* self, const std::string& kind, int64_t channels, nb::kwargs kw) {
            ng::NormOptions o;
            nb::object po = nb::cast(&o, nb::rv_policy::reference);
            for (auto [k, v] : kw) set_option({po}, o, nb::cast<std::string>(k), v, "Norm");
            new (self) nnn::Norm(kind, channels, o);
          },
          "kind"_a, "channels"_a, "kwargs"_a,
          "A norm layer of a registered kind (nn.norm_kinds()); keyword arguments are "
          "NormOptions fields or kind-declared options.")
      .def_prop_ro("kind", &nnn::Norm::kind)
      .def_prop_ro("channels", &nnn::Norm::channels)
      .def_prop_ro("options", &nnn::Norm::options)
      .def_prop_ro("weight",
                   [](const nnn::Norm& n) {
                     return n.weight.defined() ? std::optional<Tensor>(n.weight) : std::nullopt;
                   })
      .def_prop_ro("bias",
                   [](const nnn::Norm& n) {
                     return n.bias.defined() ? std::optional<Tensor>(n.bias) : std::nullopt;
                   })
      .def_ro("raw_scalars", &nnn::Norm::raw_scalars)
      .def("normalize", &nnn::Norm::normalize, "x"_a)
      .def("forward_composed", &nnn::Norm::forward_composed, "x"_a,
           "The layer written with composed ops: the reference for the fused forward().")
      .def("scalars", &nnn::Norm::scalars);

  auto GC = nb::class_<nnn::GPTConfig>(nn, "GPTConfig");
  GC.def(nb::init<>())
      .def_rw("vocab", &nnn::GPTConfig::vocab)
      .def_rw("n_layer", &nnn::GPTConfig::n_layer)
      .def_rw("n_head", &nnn::GPTConfig::n_head)
      .def_rw("n_embd", &nnn::GPTConfig::n_embd)
      .def_rw("block_size", &nnn::GPTConfig::block_size)
      .def_rw("dropout", &nnn::GPTConfig::dropout)
      .def_rw("bias", &nnn::GPTConfig::bias)
      .def_rw("gelu", &nnn::GPTConfig::gelu)
      .def_rw("norm", &nnn::GPTConfig::norm)
      .def_rw("norm_attn", &nnn::GPTConfig::norm_attn)
      .def_rw("norm_mlp", &nnn::GPTConfig::norm_mlp)
      .def_rw("norm_final", &nnn::GPTConfig::norm_final)
      .def_rw("norm_options", &nnn::GPTConfig::norm_options)
      .def_rw("alpha0_attn", &nnn::GPTConfig::alpha0_attn)
      .def_rw("alpha0_other", &nnn::GPTConfig::alpha0_other)
      .def_rw("embed_scale", &nnn::GPTConfig::embed_scale)
      .def_rw("seed", &nnn::GPTConfig::seed)
      .def_rw("init_weights", &nnn::GPTConfig::init_weights);

  // GPT(n_layer=2, n_embd=64, norm="dyt", alpha0=0.5, ...): GPTConfig fields, then
  // NormOptions fields and kind options (every position's norm), as keyword arguments.
  nb::class_<nnn::GPT, nnn::Module>(nn, "GPT")
      .def(
          "__init__",
          [](nnn::GPT* self, std::optional<nnn::GPTConfig> config, nb::kwargs kw) {
            nnn::GPTConfig c = config.value_or(nnn::GPTConfig{});
            nb::object pc = nb::cast(&c, nb::rv_policy::reference);
            nb::object po = nb::cast(&c.norm_options, nb::rv_policy::reference);
            for (auto [k, v] : kw) {
              const std::string key = nb::cast<std::string>(k);
              // GPTConfig::bias (Linear biases) wins over NormOptions::bias, as in TrainConfig.
              set_option({pc, po}, c.norm_options, key, v, "GPT");
            }
            nb::gil_scoped_release nogil;
            new (self) nnn::GPT(c);
          },
          "config"_a = nb::none(), "kwargs"_a)
      .def_prop_ro("config", &nnn::GPT::config)
      .def(
          "loss",
          [](nnn::GPT& g, const Tensor& x, const Tensor& y) {
            nb::gil_scoped_release nogil;
            return g.loss(x, y);
          },
          "x"_a, "y"_a, "mean cross-entropy of next tokens y ([B, T] int64) given x")
      .def("norm_positions", [](const nnn::GPT& g) { return nnn::norm_positions(g); })
      .def(
          "norm_at",
          [](const nnn::GPT& g, const std::string& p) { return nnn::norm_at(g, p).get(); },
          nb::rv_policy::reference_internal, "position"_a);

  namespace op = ng::optim;
  nb::class_<op::Optimizer>(optim, "Optimizer")
      .def("step",
           [](op::Optimizer& o) {
             nb::gil_scoped_release nogil;
             o.step();
           })
      .def("zero_grad", &op::Optimizer::zero_grad)
      .def_prop_rw("lr", &op::Optimizer::lr, &op::Optimizer::set_lr)
      .def_prop_ro("steps", &op::Optimizer::steps);
  // AdamW over the usual groups (default_groups: decay on matrices only, scalars at
  // scalar_lr_scale), from a Module, a dict of named tensors or a list of (name, tensor).
  nb::class_<op::AdamW, op::Optimizer>(optim, "AdamW")
      .def(
          "__init__",
          [](op::AdamW* self, nb::handle params, double lr, std::pair<double, double> betas,
             double eps, double weight_decay, double scalar_lr_scale) {
            new (self)
                op::AdamW(op::default_groups(named_of(params), weight_decay, scalar_lr_scale), lr,
                          {betas.first, betas.second, eps});
          },
          "params"_a, "lr"_a = 1e-3, "betas"_a = std::make_pair(0.9, 0.999), "eps"_a = 1e-8,
          "weight_decay"_a = 0.0, "scalar_lr_scale"_a = 1.0);
  optim.def(
      "clip_grad_norm",
      [](nb::handle params, double max_norm) {
        ng::TensorList ps;
        for (auto& [n, t] : named_of(params)) ps.push_back(t);
        return op::clip_grad_norm(ps, max_norm);
      },
      "params"_a, "max_norm"_a, "clips the global gradient norm; returns it before clipping");
  (void)m;
}

}  // namespace ngpy
