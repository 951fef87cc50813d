// TrainConfig (every NG_TRAIN_FIELDS field, from the X-macro) and train() with a per-step
// callback.
#include "normgrad/train/train.h"

#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/set.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.h"
#include "normgrad/train/config.h"

namespace ngpy {
namespace {
using namespace nb::literals;
using ngcli::TrainConfig;

// Sets a field by name; kind-declared option keys (lambda0, lambda0_attn, ...) go to
// kind_options, as the command's flags do. Every set field counts as given (--resume
// compares those with the saved run).
void set_field(TrainConfig& c, nb::handle self, const std::string& key, nb::handle value) {
  for (const auto& k : ngcli::kind_option_keys()) {
    if (k.key == key) {
      c.kind_options[key] = nb::cast<double>(value);
      c.given.insert(key);
      return;
    }
  }
  if (key == "kind_options" || key == "given" || !nb::hasattr(self, key.c_str()))
    throw nb::type_error(("TrainConfig: unknown field '" + key + "'").c_str());
  nb::setattr(self, key.c_str(), value);
  c.given.insert(key);
}

}  // namespace

void bind_train(nb::module_& m) {
  auto TC = nb::class_<TrainConfig>(m, "TrainConfig",
                                    "A training run's configuration: the command's flags, "
                                    "one attribute each (TrainConfig(max_steps=50, norm='dyt')).");
#define NG_TRAIN_ATTR(group, type, name, def, check, help) \
  TC.def_rw(#name, &TrainConfig::name, help);
  NG_TRAIN_FIELDS(NG_TRAIN_ATTR)
#undef NG_TRAIN_ATTR
  TC.def_prop_ro("final_lr", &TrainConfig::final_lr,
                 "the cosine's floor: min_lr when set, else lr / 10");
  TC.def(
        "__init__",
        [](TrainConfig* self, nb::kwargs kw) {
          // Fields are set through a temporary wrapper of a local (the instance under
          // construction is not usable from Python yet), then moved in.
          TrainConfig c;
          {
            nb::object py = nb::cast(&c, nb::rv_policy::reference);
            for (auto [k, v] : kw) set_field(c, py, nb::cast<std::string>(k), v);
          }
          new (self) TrainConfig(std::move(c));
        },
        "kwargs"_a)
      .def_rw("kind_options", &TrainConfig::kind_options)
      .def_rw("given", &TrainConfig::given)
      .def(
          "set",
          [](TrainConfig& c, const std::string& key, nb::handle value) {
            set_field(c, nb::cast(&c, nb::rv_policy::reference), key, value);
          },
          "key"_a, "value"_a)
      .def("validate", &TrainConfig::validate)
      .def("to_json", &TrainConfig::to_json)
      .def_static("from_json", &TrainConfig::from_json, "json"_a)
      .def("describe", &TrainConfig::describe)
      .def("to_flags", &TrainConfig::to_flags,
           "the flags that reproduce this config with `normgrad train`")
      .def_static("field_names",
                  [] {
                    std::vector<std::string> names;
#define NG_TRAIN_NAME(group, type, name, def, check, help) names.push_back(#name);
                    NG_TRAIN_FIELDS(NG_TRAIN_NAME)
#undef NG_TRAIN_NAME
                    return names;
                  })
      .def("__repr__", [](const TrainConfig& c) { return "TrainConfig(" + c.describe() + ")"; });

  using ngcli::TrainResult;
  nb::class_<TrainResult>(m, "TrainResult")
      .def_ro("steps", &TrainResult::steps)
      .def_ro("final_train_loss", &TrainResult::final_train_loss)
      .def_ro("final_val_loss", &TrainResult::final_val_loss)
      .def_ro("seconds", &TrainResult::seconds)
      .def_ro("tokens_per_s", &TrainResult::tokens_per_s)
      .def_ro("train_seconds", &TrainResult::train_seconds)
      .def_ro("probe_seconds", &TrainResult::probe_seconds)
      .def_ro("eval_seconds", &TrainResult::eval_seconds)
      .def_ro("diverged", &TrainResult::diverged)
      .def_ro("interrupted", &TrainResult::interrupted)
      .def_ro("signal", &TrainResult::signal)
      .def_ro("message", &TrainResult::message)
      .def("__repr__", [](const TrainResult& r) {
        return "TrainResult(steps=" + std::to_string(r.steps) +
               ", final_val_loss=" + std::to_string(r.final_val_loss) +
               (r.diverged ? ", diverged" : "") + (r.interrupted ? ", interrupted" : "") + ")";
      });

  m.def(
      "train",
      [](const TrainConfig& cfg, std::optional<nb::callable> on_step) {
        ngcli::StepCallback cb;
        if (on_step) {
          // Called from the loop with the GIL released: take it back for Python. A Python
          // exception propagates out of train() (nb::python_error) and ends the run.
          cb = [&on_step](const ngcli::StepInfo& s) {
            nb::gil_scoped_acquire gil;
            nb::object probes = nb::none();
            if (!s.probes.empty()) probes = nb::module_::import_("json").attr("loads")(s.probes);
            (*on_step)(s.step, s.loss, probes);
          };
        }
        TrainResult r;
        {
          nb::gil_scoped_release nogil;
          r = ngcli::train(cfg, nullptr, cb);
        }
        const int sig = r.signal;
        const std::string why = r.message;
        return result_or_keyboard_interrupt(std::move(r), sig, why);
      },
      "cfg"_a, "on_step"_a = nb::none(),
      "Trains as `normgrad train` does (checkpoint and metrics in cfg.out). on_step(step, loss, "
      "probes) runs after each step; probes is the probe record (a dict) at probe steps, else "
      "None. Returns a TrainResult. Ctrl-C (SIGINT) finishes the step, saves the checkpoint "
      "(resume with cfg.resume = True) and raises KeyboardInterrupt (its .result: the "
      "TrainResult); SIGTERM or SIGHUP do the same but return the result (interrupted).");
}

}  // namespace ngpy
