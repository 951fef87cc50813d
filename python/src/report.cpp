// compare, sweep and convert with the command's specs. jobs = 1 (the default) trains each
// run in this process, one after another; jobs > 1 runs them as parallel `normgrad train`
// processes, which needs the command (the running program here is Python, not normgrad):
// exe= names it, else `normgrad` on PATH. Figures come from the scripts the package ships,
// found through set_script_dir (normgrad/__init__.py passes the package's figures folder).
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <unistd.h>

#include <filesystem>

#include "common.h"
#include "normgrad/report/compare.h"
#include "normgrad/report/convert.h"
#include "normgrad/report/runs.h"
#include "normgrad/report/sweep.h"

namespace ngpy {
namespace {
using namespace nb::literals;
using ngcli::TrainConfig;

std::vector<ngcli::Variant> parse_variants(const std::optional<std::vector<std::string>>& specs) {
  std::vector<ngcli::Variant> out;
  if (specs)
    for (const auto& spec : *specs) out.push_back(ngcli::parse_variant(spec));
  return out;
}

std::string interrupted_message(const std::string& what, const std::string& dir) {
  return what + " interrupted: the run cut short saved its checkpoint; the report in " + dir +
         " labels the runs that did not finish";
}

// The normgrad command parallel runs execute: `exe`, else `normgrad` on PATH.
std::string command_for_jobs(const char* what, int jobs, const std::optional<std::string>& exe) {
  NG_CHECK(jobs >= 1, what, "jobs must be >= 1, got ", jobs);
  if (jobs == 1) return "";
  if (exe) {
    NG_CHECK(std::filesystem::is_regular_file(*exe) && access(exe->c_str(), X_OK) == 0, what,
             "exe='", *exe, "' is not an executable file (the normgrad command)");
    return std::filesystem::absolute(*exe).string();
  }
  nb::object found = nb::module_::import_("shutil").attr("which")("normgrad");
  NG_CHECK(!found.is_none(), what, "jobs=", jobs,
           " runs each run as a `normgrad train` process, "
           "and no normgrad command is on PATH: pass exe='.../bin/normgrad' (the command a CMake "
           "build makes), or jobs=1 to train the runs in this process");
  return nb::cast<std::string>(found);
}

void bind_results(nb::module_& m) {
  using ngcli::RunOutcome;
  nb::class_<RunOutcome>(m, "RunOutcome")
      .def_ro("variant", &RunOutcome::variant)
      .def_ro("out", &RunOutcome::out)
      .def_ro("seed", &RunOutcome::seed)
      .def_ro("steps", &RunOutcome::steps)
      .def_ro("train_loss", &RunOutcome::train_loss)
      .def_ro("val_loss", &RunOutcome::val_loss)
      .def_ro("tokens_per_s", &RunOutcome::tokens_per_s)
      .def_ro("label", &RunOutcome::label)
      .def_ro("evidence", &RunOutcome::evidence)
      .def("__repr__", [](const RunOutcome& r) {
        return "RunOutcome(" + r.variant + ", seed=" + std::to_string(r.seed) +
               ", val_loss=" + std::to_string(r.val_loss) + ", " + r.label + ")";
      });
  using ngcli::CompareResult;
  nb::class_<CompareResult>(m, "CompareResult")
      .def_ro("runs", &CompareResult::runs)
      .def_ro("unigram", &CompareResult::unigram)
      .def_ro("figures", &CompareResult::figures)
      .def_ro("interrupted", &CompareResult::interrupted);

  nb::class_<ngcli::Stats>(m, "Stats")
      .def_ro("mean", &ngcli::Stats::mean)
      .def_ro("sd", &ngcli::Stats::sd)
      .def_ro("n", &ngcli::Stats::n);
  using ngcli::SweepCell;
  nb::class_<SweepCell>(m, "SweepCell")
      .def_ro("variant", &SweepCell::variant)
      .def_ro("value", &SweepCell::value)
      .def_ro("width", &SweepCell::width)
      .def_ro("layers", &SweepCell::layers)
      .def_ro("runs", &SweepCell::runs)
      .def_ro("val", &SweepCell::val)
      .def_ro("labels", &SweepCell::labels)
      .def_ro("best", &SweepCell::best);
  using ngcli::SweepResult;
  nb::class_<SweepResult>(m, "SweepResult")
      .def_ro("cells", &SweepResult::cells)
      .def_ro("unigram", &SweepResult::unigram)
      .def_ro("ran", &SweepResult::ran)
      .def_ro("reused", &SweepResult::reused)
      .def_ro("interrupted", &SweepResult::interrupted)
      .def_ro("figures", &SweepResult::figures)
      .def_ro("finding", &SweepResult::finding);

  using ngcli::SurgeryRow;
  nb::class_<SurgeryRow>(m, "SurgeryRow")
      .def_ro("target", &SurgeryRow::target)
      .def_ro("init", &SurgeryRow::init)
      .def_ro("after", &SurgeryRow::after)
      .def_ro("after_norm_ft", &SurgeryRow::after_norm_ft)
      .def_ro("after_all_ft", &SurgeryRow::after_all_ft)
      .def_ro("scalars", &SurgeryRow::scalars);
  using ngcli::PerLayerRow;
  nb::class_<PerLayerRow>(m, "PerLayerRow")
      .def_ro("target", &PerLayerRow::target)
      .def_ro("position", &PerLayerRow::position)
      .def_ro("init", &PerLayerRow::init)
      .def_ro("after", &PerLayerRow::after);
  using ngcli::ConvertResult;
  nb::class_<ConvertResult>(m, "ConvertResult")
      .def_ro("source_kind", &ConvertResult::source_kind)
      .def_ro("before", &ConvertResult::before)
      .def_ro("unigram", &ConvertResult::unigram)
      .def_ro("rows", &ConvertResult::rows)
      .def_ro("per_layer", &ConvertResult::per_layer)
      .def_ro("figures", &ConvertResult::figures);
}

}  // namespace

void bind_report(nb::module_& m) {
  bind_results(m);
  m.def("set_script_dir", &ngcli::set_script_dir, "dir"_a,
        "Where compare, sweep and convert find their figure scripts first (plot_report.py, "
        "...); the package sets its own folder on import.");

  m.def(
      "compare",
      [](const TrainConfig& base, std::optional<std::vector<std::string>> variants, int seeds,
         const std::string& dir, int jobs, std::optional<std::string> exe, bool figures) {
        ngcli::CompareOptions o;
        o.variants = parse_variants(variants);
        o.seeds = seeds;
        o.dir = dir;
        o.jobs = jobs;
        o.exe = command_for_jobs("compare", jobs, exe);
        o.figures = figures;
        ngcli::CompareResult r;
        {
          nb::gil_scoped_release nogil;
          r = ngcli::compare(base, o);
        }
        const int sig = r.signal;
        return result_or_keyboard_interrupt(std::move(r), sig, interrupted_message("compare", dir));
      },
      "base"_a, "variants"_a = nb::none(), "seeds"_a = 3, "dir"_a = "report", "jobs"_a = 1,
      "exe"_a = nb::none(), "figures"_a = true,
      "`normgrad compare`: each variant spec (as on the command line: 'dyt', "
      "'dyt:alpha0=0.2,lr=3e-3', ...; None: the default list) trained with seeds base.seed + k, "
      "then the report (and figures, where matplotlib is there) in dir. jobs > 1: that many runs "
      "at a time, each a single-threaded `normgrad train` process (exe, else normgrad on PATH), "
      "with the same numbers as jobs=1. figures=False: the report without figures (a few seconds "
      "sooner). Ctrl-C: KeyboardInterrupt once the report is written.");

  m.def(
      "sweep",
      [](const TrainConfig& base, std::optional<std::vector<std::string>> variants,
         const std::string& param, std::vector<std::string> values, std::vector<int64_t> widths,
         std::vector<int64_t> layers, int seeds, const std::string& dir, int jobs,
         std::optional<std::string> exe, bool figures) {
        ngcli::SweepOptions o;
        o.variants = parse_variants(variants);
        o.param = param;
        o.values = std::move(values);
        o.widths = std::move(widths);
        o.layers = std::move(layers);
        o.seeds = seeds;
        o.dir = dir;
        o.jobs = jobs;
        o.exe = command_for_jobs("sweep", jobs, exe);
        o.figures = figures;
        ngcli::SweepResult r;
        {
          nb::gil_scoped_release nogil;
          r = ngcli::sweep(base, o);
        }
        const int sig = r.signal;
        return result_or_keyboard_interrupt(
            std::move(r), sig, interrupted_message("sweep", dir) + " (call again to resume)");
      },
      "base"_a, "variants"_a = nb::none(), "param"_a = "alpha0",
      "values"_a = std::vector<std::string>{}, "widths"_a = std::vector<int64_t>{},
      "layers"_a = std::vector<int64_t>{}, "seeds"_a = 2, "dir"_a = "sweep", "jobs"_a = 1,
      "exe"_a = nb::none(), "figures"_a = true,
      "`normgrad sweep`: variants (specs as on the command line; None: dyt:scale=sqrtc) x "
      "values of param x widths (n_embd) x layers (n_layer), seeds each; empty lists take the "
      "command's defaults (0.5 .. 16; 64, 128, 256; base.n_layer). Resumable like the command. "
      "jobs > 1: parallel `normgrad train` processes, as compare; figures as compare.");

  auto CO = nb::class_<ngcli::ConvertOptions>(m, "ConvertOptions",
                                              "`normgrad convert`'s flags, one attribute each.");
  CO.def(nb::init<>())
      .def_rw("ckpt", &ngcli::ConvertOptions::ckpt)
      .def_rw("to", &ngcli::ConvertOptions::to)
      .def_rw("at", &ngcli::ConvertOptions::at)
      .def_rw("inits", &ngcli::ConvertOptions::inits)
      .def_rw("scale", &ngcli::ConvertOptions::scale)
      .def_rw("steps", &ngcli::ConvertOptions::steps)
      .def_rw("lr", &ngcli::ConvertOptions::lr)
      .def_rw("eval_batches", &ngcli::ConvertOptions::eval_batches)
      .def_rw("stats_batches", &ngcli::ConvertOptions::stats_batches)
      .def_rw("per_layer", &ngcli::ConvertOptions::per_layer)
      .def_rw("data", &ngcli::ConvertOptions::data)
      .def_rw("dir", &ngcli::ConvertOptions::dir)
      .def_rw("tensorboard", &ngcli::ConvertOptions::tensorboard)
      .def_rw("quiet", &ngcli::ConvertOptions::quiet)
      .def_rw("figures", &ngcli::ConvertOptions::figures)
      .def_rw("device", &ngcli::ConvertOptions::device);
  m.def(
      "convert",
      [](const std::string& ckpt, nb::kwargs kw) {
        ngcli::ConvertOptions o;
        o.ckpt = ckpt;
        {
          nb::object po = nb::cast(&o, nb::rv_policy::reference);
          for (auto [k, v] : kw) {
            const std::string key = nb::cast<std::string>(k);
            if (key == "ckpt" || !nb::hasattr(po, key.c_str()))
              throw nb::type_error(("convert: unknown option '" + key + "'").c_str());
            nb::setattr(po, key.c_str(), v);
          }
        }
        nb::gil_scoped_release nogil;
        return ngcli::convert(o);
      },
      "ckpt"_a, "kwargs"_a,
      "`normgrad convert`: norm surgery on a layernorm or rmsnorm checkpoint; keyword "
      "arguments are ConvertOptions fields (to=['dyt'], at='all', inits=['stats'], steps=20, "
      "dir='surgery', ...). The report (and figures, where matplotlib is there) goes in dir.");
}

}  // namespace ngpy
