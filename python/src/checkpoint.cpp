// Files and text: safetensors (save/load, the format `normgrad train` writes), checkpoints
// of a model and optimizer, a run's saved checkpoint with its model rebuilt, and tokenizers.
#include "normgrad/optim/checkpoint.h"

#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include "common.h"
#include "normgrad/nn/safetensors.h"
#include "normgrad/train/saved_run.h"
#include "normgrad/train/tokenizer.h"

namespace ngpy {
namespace {
using namespace nb::literals;
using ngcli::Tokenizer;

// A checkpoint written by `normgrad train` (or import / convert): everything read_saved_run
// checked, and the model built from it.
struct Checkpoint {
  ngcli::SavedRun run;
  std::unique_ptr<ng::nn::GPT> model;
};

}  // namespace

void bind_checkpoint(nb::module_& m) {
  m.def(
      "save_safetensors",
      [](const std::string& path, const ng::nn::StateDict& tensors,
         std::optional<ng::nn::Metadata> metadata) {
        nb::gil_scoped_release nogil;
        ng::nn::save_safetensors(path, tensors, metadata.value_or(ng::nn::Metadata{}));
      },
      "path"_a, "tensors"_a, "metadata"_a = nb::none(),
      "Writes tensors (name -> Tensor) and metadata (str -> str) atomically (temp + rename).");
  m.def(
      "load_safetensors",
      [](const std::string& path) {
        ng::nn::Safetensors f;
        {
          nb::gil_scoped_release nogil;
          f = ng::nn::load_safetensors(path);
        }
        return std::make_pair(f.tensors, f.metadata);
      },
      "path"_a, "(tensors, metadata) of a safetensors file, every size and offset checked.");
  m.def(
      "save_checkpoint",
      [](const std::string& path, const ng::nn::Module& model, const ng::optim::Optimizer* opt,
         std::optional<ng::nn::Metadata> metadata) {
        nb::gil_scoped_release nogil;
        ng::optim::save_checkpoint(path, model, opt, metadata.value_or(ng::nn::Metadata{}));
      },
      "path"_a, "model"_a, "optimizer"_a = nb::none(), "metadata"_a = nb::none(),
      "Model tensors under their names, optimizer state under 'optim.', one safetensors file.");
  m.def(
      "load_checkpoint",
      [](const std::string& path, ng::nn::Module& model, ng::optim::Optimizer* opt) {
        nb::gil_scoped_release nogil;
        return ng::optim::load_checkpoint(path, model, opt);
      },
      "path"_a, "model"_a, "optimizer"_a = nb::none(),
      "Loads save_checkpoint's file into model (strict) and optimizer; returns its metadata.");

  nb::class_<Tokenizer>(m, "Tokenizer",
                        "A run's tokenizer: characters, GPT-2 BPE or bare token ids.")
      .def_static(
          "chars",
          [](const std::string& text) {
            return Tokenizer::chars(ngcli::CharTokenizer::from_text(text));
          },
          "text"_a, "every distinct character of text, sorted, is a token")
      .def_static(
          "gpt2_bpe",
          [](const std::string& path) { return Tokenizer::bpe(ngcli::Gpt2Bpe::from_folder(path)); },
          "path"_a, "GPT-2 BPE from a folder with vocab.json + merges.txt, or tokenizer.json")
      .def_static("ids", &Tokenizer::ids, "vocab"_a)
      .def_prop_ro("kind", &Tokenizer::kind)
      .def("__len__", &Tokenizer::size)
      .def("encode", &Tokenizer::encode, "text"_a)
      .def("decode", &Tokenizer::decode, "ids"_a)
      .def("__repr__", [](const Tokenizer& t) {
        return "Tokenizer(" + t.kind() + ", " + std::to_string(t.size()) + " tokens)";
      });

  nb::class_<Checkpoint>(m, "SavedRun",
                         "A checkpoint of `normgrad train` (or import, convert) with its model.")
      .def_prop_ro("path", [](const Checkpoint& c) { return c.run.path; })
      .def_prop_ro("config", [](const Checkpoint& c) { return c.run.cfg; })
      .def_prop_ro("tokenizer", [](const Checkpoint& c) { return c.run.tok; })
      .def_prop_ro("step", [](const Checkpoint& c) { return c.run.step; })
      .def_prop_ro("metadata", [](const Checkpoint& c) { return c.run.file.metadata; })
      .def_prop_ro(
          "model", [](Checkpoint& c) { return c.model.get(); }, nb::rv_policy::reference_internal,
          "the GPT, on the host, in eval mode");
  m.def(
      "read_saved_run",
      [](const std::string& path) {
        nb::gil_scoped_release nogil;
        auto c = std::make_unique<Checkpoint>();
        c->run = ngcli::read_saved_run(path, false);
        c->model = ngcli::saved_model(c->run);
        return c;
      },
      "path"_a,
      "A checkpoint written by `normgrad train`, checked as `normgrad eval` checks it, with its "
      "model rebuilt: read_saved_run(p).model(ids) gives the logits eval computes.");
}

}  // namespace ngpy
