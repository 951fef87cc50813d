// Hugging Face GPT-2 model folders in and out: `config.json` + `model.safetensors`, the layout
// GPT2LMHeadModel.save_pretrained writes.
//
//   auto hf = nn::read_hf_gpt2("gpt2");            // any GPT-2 size, F32/F16/BF16 weights
//   nn::GPT model(hf.config);
//   model.load_state_dict(hf.weights);
//   nn::write_hf_gpt2(model, "exported");          // GPT2LMHeadModel.from_pretrained reads it
//
// Differences the conversion takes care of: GPT-2's Conv1D stores weights [in, out] where
// normgrad's Linear stores [out, in] (c_attn, c_proj, c_fc are transposed both ways); the LM
// head is tied to wte (a saved lm_head.weight must equal it); keys may or may not carry the
// "transformer." prefix; the causal-mask buffers (attn.bias, attn.masked_bias) of older saves
// are skipped. activation_function gelu_new / gelu_pytorch_tanh -> tanh GELU, gelu -> exact.
// GPT-2 has three dropout rates (embd, attn, resid); normgrad one: resid_pdrop is used.
//
// Models whose norms are not all LayerNorm (or that have extra parameters) are written in the
// same layout with their extra tensors under their normgrad names (e.g.
// transformer.h.0.ln_1.alpha, embed_scale) and two config.json fields: "normgrad_norms"
// (position -> kind, for readers) and "normgrad" (kinds per position type, NormOptions and
// the per-position options: what read_hf_gpt2 needs to rebuild the model exactly). Only
// LayerNorm models load in transformers as GPT-2. The others must not load as one: GPT-2's
// LayerNorm would take their weight and bias and drop the rest with a warning, a wrong model
// that runs. So they get model_type kNotGpt2ModelType (AutoModel* refuses an unknown type) and
// model.safetensors the "format" kNotGpt2Format (GPT2LMHeadModel.from_pretrained, which only
// warns about a foreign model_type, refuses any format but pt/tf/flax/mlx, naming it).
#pragma once
#include <string>

#include "normgrad/nn/gpt.h"
#include "normgrad/nn/module.h"

namespace ng::nn {

// config.json's model_type and model.safetensors' "format" of a model transformers must not
// load as GPT-2 (norms other than LayerNorm, or extra parameters).
inline constexpr const char* kNotGpt2ModelType = "normgrad_gpt";
inline constexpr const char* kNotGpt2Format =
    "normgrad: not GPT-2 (config.json normgrad_not_gpt2 says why), read it with normgrad import";

struct HFGPT2 {
  GPTConfig config;
  StateDict weights;  // normgrad names and layouts, ready for GPT::load_state_dict
  std::string notes;  // what was adapted (dropout rates merged, ...), empty if nothing
};

// Every config value is checked (types, ranges, supported options) before the weights are
// read; errors name the file and the field.
HFGPT2 read_hf_gpt2(const std::string& dir);

// Writes DIR/config.json and DIR/model.safetensors (weights only) atomically. `extra_config`
// (a JSON object as text, may be empty) is merged into config.json, e.g. tokenizer notes.
void write_hf_gpt2(const GPT& model, const std::string& dir, const std::string& extra_config = "");

// GPT-2's Conv1D weights (stored [in, out]) among normgrad's parameter names.
bool is_conv1d_weight(const std::string& name);

}  // namespace ng::nn
