#include "normgrad/optim/checkpoint.h"

namespace ng::optim {

namespace {
const std::string kOptim = "optim.";
}

void save_checkpoint(const std::string& path, const nn::Module& model, const Optimizer* opt,
                     const nn::Metadata& metadata) {
  nn::StateDict all = model.state_dict();
  if (opt)
    for (auto& [k, v] : opt->state_dict()) all[kOptim + k] = v;
  nn::save_safetensors(path, all, metadata);
}

nn::Metadata load_checkpoint(const std::string& path, nn::Module& model, Optimizer* opt) {
  const nn::Safetensors f = nn::load_safetensors(path);
  load_checkpoint(f, path, model, opt);
  return f.metadata;
}

void load_checkpoint(const nn::Safetensors& f, const std::string& source, nn::Module& model,
                     Optimizer* opt) {
  nn::StateDict model_sd, opt_sd;
  for (auto& [k, v] : f.tensors) {
    if (k.rfind(kOptim, 0) == 0)
      opt_sd[k.substr(kOptim.size())] = v;
    else
      model_sd[k] = v;
  }
  model.load_state_dict(model_sd);
  if (opt) {
    if (opt_sd.empty()) fail("load_checkpoint", source, " holds no optimizer state");
    opt->load_state_dict(opt_sd);
  }
}

}  // namespace ng::optim
