// Model + optimizer in one safetensors file: model tensors under their own names,
// optimizer state under "optim.", and the step and any caller metadata in __metadata__.
#pragma once
#include <string>

#include "normgrad/nn/safetensors.h"
#include "normgrad/optim/optimizer.h"

namespace ng::optim {

// Writes model (and optimizer, when given) atomically, with `metadata`.
void save_checkpoint(const std::string& path, const nn::Module& model, const Optimizer* opt,
                     const nn::Metadata& metadata = {});
// Loads into an existing model (strict) and optimizer; returns the file's metadata.
nn::Metadata load_checkpoint(const std::string& path, nn::Module& model, Optimizer* opt);
// The same from a file already read (and checked) by the caller; `source` names it in errors.
void load_checkpoint(const nn::Safetensors& file, const std::string& source, nn::Module& model,
                     Optimizer* opt);

}  // namespace ng::optim
