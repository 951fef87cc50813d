// normgrad._core: the module's entry point, its exception type and no_grad.
#include "common.h"
#include "normgrad/autograd.h"
#include "normgrad/error.h"
#include "normgrad/threading.h"

namespace ngpy {

ng::DType parse_dtype(const std::string& name) {
  for (ng::DType t : {ng::DType::F32, ng::DType::F64, ng::DType::I64})
    if (name == ng::dtype_name(t)) return t;
  ng::fail("dtype", "unknown dtype '", name, "' (float32, float64 or int64)");
}

ng::Device parse_device_name(const std::string& name) {
  if (name == "cpu") return ng::Device::CPU;
  if (name == "cuda") return ng::Device::CUDA;
  ng::fail("device", "unknown device '", name, "' (cpu or cuda)");
}

namespace {

// `with normgrad.no_grad():` — GradMode is thread-local, as is the Python thread that
// enters and leaves the block.
struct NoGrad {
  bool prev = true;
};

}  // namespace
}  // namespace ngpy

NB_MODULE(_core, m) {
  using namespace ngpy;
  m.doc() = "normgrad: strided tensors, reverse-mode autograd, GPT with swappable norms";
  // Every ng::Error (messages start with "[op]") is normgrad.Error, a RuntimeError; other
  // C++ exceptions take nanobind's standard mapping (std::runtime_error -> RuntimeError,
  // std::invalid_argument -> ValueError, ...), their message kept.
  nb::exception<ng::Error>(m, "Error", PyExc_RuntimeError);

  nb::class_<NoGrad>(m, "no_grad", "Context manager: no autograd recording inside the block.")
      .def(nb::init<>())
      .def("__enter__",
           [](NoGrad& g) {
             g.prev = ng::GradMode::enabled();
             ng::GradMode::set_enabled(false);
           })
      .def(
          "__exit__",
          [](NoGrad& g, nb::handle, nb::handle, nb::handle) { ng::GradMode::set_enabled(g.prev); },
          nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("traceback").none());
  m.def("is_grad_enabled", &ng::GradMode::enabled);
  m.def("set_num_threads", &ng::set_num_threads, nb::arg("n"),
        "threads for normgrad's kernels and OpenBLAS together");
  m.def("num_threads", &ng::num_threads);

  nb::module_ nn = m.def_submodule("nn", "Modules: GPT and the norm layers of the registry");
  nb::module_ optim = m.def_submodule("optim", "Optimizers: AdamW");
  bind_tensor(m);
  bind_nn(m, nn, optim);
  bind_train(m);
  bind_checkpoint(m);
  bind_report(m);
}
