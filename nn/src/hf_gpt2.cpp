#include "normgrad/nn/hf_gpt2.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "normgrad/error.h"
#include "normgrad/nn/safetensors.h"
#include "normgrad/ops.h"

namespace ng::nn {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr uintmax_t kMaxConfigBytes = 16u << 20;

json read_config(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    fail("hf_gpt2", path, " is missing (a GPT-2 folder has config.json + model.safetensors)");
  if (fs::file_size(path, ec) > kMaxConfigBytes)
    fail("hf_gpt2", path, " is larger than 16 MiB: not a model config");
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  try {
    json j = json::parse(text.str());
    if (!j.is_object()) fail("hf_gpt2", path, ": not a JSON object");
    return j;
  } catch (const json::exception& e) {
    fail("hf_gpt2", path, ": not valid JSON (", e.what(), ")");
  }
}

// A config field: integer in [lo, hi], or the default when absent (no default: required).
int64_t int_field(const json& j, const std::string& key, int64_t lo, int64_t hi,
                  std::optional<int64_t> def, const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) {
    if (!def) fail("hf_gpt2", path, ": '", key, "' is required");
    return *def;
  }
  if (!j[key].is_number_integer())
    fail("hf_gpt2", path, ": '", key, "' must be an integer, got ", j[key].dump());
  const int64_t v = j[key].get<int64_t>();
  if (v < lo || v > hi)
    fail("hf_gpt2", path, ": '", key, "' = ", v, " is outside [", lo, ", ", hi, "]");
  return v;
}
double real_field(const json& j, const std::string& key, double lo, double hi, double def,
                  const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_number()) fail("hf_gpt2", path, ": '", key, "' must be a number");
  const double v = j[key].get<double>();
  if (!(v >= lo && v <= hi))
    fail("hf_gpt2", path, ": '", key, "' = ", v, " is outside [", lo, ", ", hi, "]");
  return v;
}
bool bool_field(const json& j, const std::string& key, bool def, const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) fail("hf_gpt2", path, ": '", key, "' must be true or false");
  return j[key].get<bool>();
}
std::string string_field(const json& j, const std::string& key, const std::string& def,
                         const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_string()) fail("hf_gpt2", path, ": '", key, "' must be a string");
  return j[key].get<std::string>();
}

// One NormOptions member (NG_NORM_OPTIONS) from norm_options, with the member's check.
template <class T>
void option_field(const json& o, const char* key, T& v, OptionCheck check, const std::string& p) {
  const double lo = check == OptionCheck::kPositive      ? 1e-30
                    : check == OptionCheck::kNonNegative ? 0
                                                         : -1e30;
  if constexpr (std::is_same_v<T, bool>) {
    v = bool_field(o, key, v, p);
  } else if constexpr (std::is_same_v<T, std::string>) {
    v = string_field(o, key, v, p);
    if (check == OptionCheck::kScale && v != "one" && v != "sqrtc")
      fail("hf_gpt2", p, ": ", key, " must be one or sqrtc");
  } else if constexpr (std::is_same_v<T, std::optional<double>>) {
    if (o.contains(key) && !o[key].is_null()) v = real_field(o, key, lo, 1e30, 1, p);
  } else if constexpr (std::is_integral_v<T>) {
    v = int_field(o, key, (int64_t)lo, INT64_MAX / 4, v, p);
  } else {
    v = real_field(o, key, lo, 1e30, v, p);
  }
}
template <class T>
json option_json(const T& v) {
  if constexpr (std::is_same_v<T, std::optional<double>>)
    return v ? json(*v) : json();
  else
    return json(v);
}

// Kind options set at one position (GPTConfig::attn_options, ...): each a registered
// per-position option with a value in its range.
void read_position_options(const json& j, const char* key, std::map<std::string, double>& out,
                           const std::string& p) {
  if (!j.contains(key) || j[key].is_null()) return;
  if (!j[key].is_object()) fail("hf_gpt2", p, ": ", key, " must be an object");
  for (const auto& [name, v] : j[key].items()) {
    const NormOptionSpec* spec = find_norm_option(name);
    if (!spec || !spec->per_position)
      fail("hf_gpt2", p, ": ", key, ": '", name, "' is not a per-position norm option");
    const double x = real_field(j[key], name, -HUGE_VAL, HUGE_VAL, spec->init, p);
    if (const std::string e = norm_option_range_error(*spec, x); !e.empty())
      fail("hf_gpt2", p, ": ", key, ": ", e);
    out[name] = x;
  }
}
// Why a model is not a GPT-2 in words, empty when it is one.
std::string not_gpt2_reason(const std::set<std::string>& other_kinds, bool extras) {
  std::string why;
  for (const auto& k : other_kinds) why += (why.empty() ? "" : ", ") + k;
  if (!why.empty()) why = "norms of kinds GPT-2 does not have: " + why;
  if (extras)
    why += std::string(why.empty() ? "" : "; ") +
           "parameters GPT-2 does not have (embed_scale or norm scalars)";
  return why;
}
json position_options_json(const std::map<std::string, double>& m) {
  json o = json::object();
  for (const auto& [name, v] : m) o[name] = v;
  return o;
}

// The normgrad extension: norm kinds per position type and the NormOptions that change what
// a layer computes or how it was initialised.
void read_normgrad_fields(const json& j, GPTConfig& c, const std::string& path) {
  const std::string p = path + " field 'normgrad'";
  if (!j.is_object()) fail("hf_gpt2", p, " must be an object");
  c.norm = string_field(j, "norm", "layernorm", p);
  c.norm_attn = string_field(j, "norm_attn", "", p);
  c.norm_mlp = string_field(j, "norm_mlp", "", p);
  c.norm_final = string_field(j, "norm_final", "", p);
  for (const std::string* k : {&c.norm, &c.norm_attn, &c.norm_mlp, &c.norm_final})
    if (!(k->empty() && k != &c.norm) && !has_norm_kind(*k))
      fail("hf_gpt2", p, ": ", unknown_norm_kind(*k));
  c.bias = bool_field(j, "bias", true, p);
  c.embed_scale = bool_field(j, "embed_scale", false, p);
  for (auto [key, a0] :
       {std::pair{"alpha0_attn", &c.alpha0_attn}, {"alpha0_other", &c.alpha0_other}})
    if (j.contains(key) && !j[key].is_null()) *a0 = real_field(j, key, 1e-30, 1e30, 1, p);
  read_position_options(j, "attn_options", c.attn_options, p);
  read_position_options(j, "mlp_options", c.mlp_options, p);
  read_position_options(j, "final_options", c.final_options, p);
  if (j.contains("norm_options")) {
    const json& o = j["norm_options"];
    if (!o.is_object()) fail("hf_gpt2", p, ": norm_options must be an object");
    NormOptions& n = c.norm_options;
#define NG_READ_OPTION(group, type, name, def, check, help) \
  option_field(o, #name, n.name, OptionCheck::check, p);
    NG_NORM_OPTIONS(NG_READ_OPTION)
#undef NG_READ_OPTION
    n.affine = bool_field(o, "affine", n.affine, p);
    n.bias = bool_field(o, "bias", n.bias, p);
    for (const auto& spec : norm_option_specs())  // the kinds' own options
      if (o.contains(spec.name) && !o[spec.name].is_null()) {
        const double v = real_field(o, spec.name, -HUGE_VAL, HUGE_VAL, spec.init, p);
        if (const std::string e = norm_option_range_error(spec, v); !e.empty())
          fail("hf_gpt2", p, ": ", e);
        n.extra[spec.name] = v;
      }
  }
}

}  // namespace

bool is_conv1d_weight(const std::string& name) {
  for (const char* s :
       {".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight"}) {
    const std::string suffix = s;
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  }
  return false;
}

HFGPT2 read_hf_gpt2(const std::string& dir) {
  const std::string cpath = dir + "/config.json";
  const json j = read_config(cpath);
  HFGPT2 out;
  GPTConfig& c = out.config;
  const std::string type = string_field(j, "model_type", "gpt2", cpath);
  if (type != "gpt2" && type != kNotGpt2ModelType)
    fail("hf_gpt2", cpath, ": model_type '", type, "' is neither gpt2 nor ", kNotGpt2ModelType);
  if (type == kNotGpt2ModelType && !j.contains("normgrad"))
    fail("hf_gpt2", cpath, ": model_type ", kNotGpt2ModelType,
         " without the 'normgrad' field (its norm kinds and options)");
  c.vocab = int_field(j, "vocab_size", 1, 1 << 24, std::nullopt, cpath);
  c.block_size = int_field(j, "n_positions", 1, 65536, std::nullopt, cpath);
  c.n_embd = int_field(j, "n_embd", 1, 65536, std::nullopt, cpath);
  c.n_layer = int_field(j, "n_layer", 1, 1024, std::nullopt, cpath);
  c.n_head = int_field(j, "n_head", 1, 1024, std::nullopt, cpath);
  if (c.n_embd % c.n_head)
    fail("hf_gpt2", cpath, ": n_embd ", c.n_embd, " is not a multiple of n_head ", c.n_head);
  const int64_t inner = int_field(j, "n_inner", 1, 1 << 20, 4 * c.n_embd, cpath);
  if (inner != 4 * c.n_embd)
    fail("hf_gpt2", cpath, ": n_inner ", inner, " is not 4 * n_embd (normgrad's MLP width)");
  const std::string act = string_field(j, "activation_function", "gelu_new", cpath);
  if (act == "gelu_new" || act == "gelu_pytorch_tanh")
    c.gelu = "tanh";
  else if (act == "gelu")
    c.gelu = "exact";
  else
    fail("hf_gpt2", cpath, ": activation_function '", act, "' (normgrad has gelu, gelu_new)");
  const double resid = real_field(j, "resid_pdrop", 0, 1, 0.1, cpath);
  const double embd = real_field(j, "embd_pdrop", 0, 1, 0.1, cpath);
  const double attn = real_field(j, "attn_pdrop", 0, 1, 0.1, cpath);
  c.dropout = resid;
  if (embd != resid || attn != resid)
    out.notes += "dropout: resid_pdrop " + std::to_string(resid) + " used for all three (embd " +
                 std::to_string(embd) + ", attn " + std::to_string(attn) + "). ";
  c.norm_options.eps = real_field(j, "layer_norm_epsilon", 1e-30, 1, 1e-5, cpath);
  if (!bool_field(j, "scale_attn_weights", true, cpath))
    fail("hf_gpt2", cpath, ": scale_attn_weights false is not supported");
  if (bool_field(j, "scale_attn_by_inverse_layer_idx", false, cpath))
    fail("hf_gpt2", cpath, ": scale_attn_by_inverse_layer_idx is not supported");
  if (!bool_field(j, "tie_word_embeddings", true, cpath))
    fail("hf_gpt2", cpath, ": an untied LM head is not supported (normgrad ties it to wte)");
  c.norm = "layernorm";
  if (j.contains("normgrad")) {
    const double eps = c.norm_options.eps;
    read_normgrad_fields(j["normgrad"], c, cpath);
    if (!j["normgrad"].contains("norm_options")) c.norm_options.eps = eps;
  }

  const std::string wpath = dir + "/model.safetensors";
  std::error_code ec;
  if (!fs::is_regular_file(wpath, ec))
    fail("hf_gpt2", wpath,
         " is missing (sharded or .bin-only checkpoints: save with "
         "save_pretrained(..., safe_serialization=True, max_shard_size='100GB'))");
  Safetensors st = load_safetensors(wpath);
  Tensor lm_head;
  for (auto& [key, t] : st.tensors) {
    std::string name = key.rfind("transformer.", 0) == 0 ? key : "transformer." + key;
    if (key == "lm_head.weight") {
      lm_head = t;
      continue;
    }
    if (key == "embed_scale" || key == "transformer.embed_scale") name = "embed_scale";
    const bool mask_buffer =
        (name.size() > 10 && name.compare(name.size() - 10, 10, ".attn.bias") == 0) ||
        name.find(".attn.masked_bias") != std::string::npos;
    if (mask_buffer) continue;
    if (is_conv1d_weight(name)) {
      if (t.dim() != 2)
        fail("hf_gpt2", wpath, ": ", key, " must be 2-D, is ", shape_str(t.shape()));
      t = t.t().contiguous();
    }
    out.weights[name] = t;
  }
  auto wte = out.weights.find("transformer.wte.weight");
  if (wte == out.weights.end()) fail("hf_gpt2", wpath, ": no wte.weight");
  if (lm_head.defined()) {
    if (lm_head.shape() != wte->second.shape() ||
        lm_head.to(DType::F64).to_vector() != wte->second.to(DType::F64).to_vector())
      fail("hf_gpt2", wpath,
           ": lm_head.weight differs from wte.weight (untied heads are not "
           "supported)");
  }
  if (!c.bias)  // the zeros write_hf_gpt2 put in for GPT-2's Conv1D biases
    for (auto it = out.weights.begin(); it != out.weights.end();) {
      const std::string& k = it->first;
      const bool conv_bias =
          k.ends_with(".bias") && is_conv1d_weight(k.substr(0, k.size() - 5) + ".weight");
      if (conv_bias && sum(abs(it->second)).item() != 0)
        fail("hf_gpt2", wpath, ": ", k,
             " is not zero in a model without biases (normgrad.bias false)");
      it = conv_bias ? out.weights.erase(it) : std::next(it);
    }
  for (auto& [name, t] : out.weights)
    if (!all_finite(t)) fail("hf_gpt2", wpath, ": ", name, " holds inf or NaN");
  return out;
}

void write_hf_gpt2(const GPT& model, const std::string& dir, const std::string& extra_config) {
  const GPTConfig& c = model.config();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("hf_gpt2", "cannot create ", dir, ": ", ec.message());
  StateDict out;
  bool extras = false;
  for (auto& [name, t] : model.state_dict()) {
    Tensor v = t.detach().to(Device::CPU);
    if (is_conv1d_weight(name)) v = v.t();
    out[name] = v.contiguous();
    const bool gpt2_name = name.find(".ln_") == std::string::npos || name.ends_with(".weight") ||
                           name.ends_with(".bias");
    if (!gpt2_name || name == "embed_scale") extras = true;
  }
  // GPT-2's Conv1D always has a bias: a model without biases gets zeros (read_hf_gpt2 drops
  // them again when config.json's normgrad.bias is false).
  if (!c.bias)
    for (auto& [name, t] : model.state_dict())
      if (is_conv1d_weight(name))
        out[name.substr(0, name.size() - 7) + ".bias"] = zeros({t.size(0)}, {.dtype = t.dtype()});
  json norms = json::object();
  std::set<std::string> other_kinds;  // the kinds GPT-2 does not have
  for (const auto& p : norm_positions(model)) {
    norms[p] = norm_at(model, p)->kind();
    if (norms[p] != "layernorm") other_kinds.insert(norm_at(model, p)->kind());
  }
  const std::string not_gpt2 = not_gpt2_reason(other_kinds, extras);
  const NormOptions& n = c.norm_options;
  json options = {{"affine", n.affine}, {"bias", n.bias}};
#define NG_WRITE_OPTION(group, type, name, def, check, help) options[#name] = option_json(n.name);
  NG_NORM_OPTIONS(NG_WRITE_OPTION)
#undef NG_WRITE_OPTION
  for (const auto& spec : norm_option_specs())  // the options of the kinds this model uses
    if (n.extra.count(spec.name) || spec.kind == c.norm || spec.kind == c.norm_attn ||
        spec.kind == c.norm_mlp || spec.kind == c.norm_final)
      options[spec.name] = n.get(spec.name);
  json cfg = {{"architectures", {not_gpt2.empty() ? "GPT2LMHeadModel" : "NormgradGPT"}},
              {"model_type", not_gpt2.empty() ? "gpt2" : kNotGpt2ModelType},
              {"vocab_size", c.vocab},
              {"n_positions", c.block_size},
              {"n_ctx", c.block_size},
              {"n_embd", c.n_embd},
              {"n_layer", c.n_layer},
              {"n_head", c.n_head},
              {"n_inner", nullptr},
              {"activation_function", c.gelu == "tanh" ? "gelu_new" : "gelu"},
              {"resid_pdrop", c.dropout},
              {"embd_pdrop", c.dropout},
              {"attn_pdrop", c.dropout},
              {"layer_norm_epsilon", n.eps},
              {"initializer_range", 0.02},
              {"scale_attn_weights", true},
              {"tie_word_embeddings", true},
              {"bos_token_id", c.vocab - 1},
              {"eos_token_id", c.vocab - 1},
              {"torch_dtype", out.begin()->second.dtype() == DType::F64 ? "float64" : "float32"},
              {"normgrad_norms", norms},
              {"normgrad",
               {{"norm", c.norm},
                {"norm_attn", c.norm_attn},
                {"norm_mlp", c.norm_mlp},
                {"norm_final", c.norm_final},
                {"bias", c.bias},
                {"embed_scale", c.embed_scale},
                {"norm_options", options}}}};
  json& ours = cfg["normgrad"];
  if (c.alpha0_attn) ours["alpha0_attn"] = *c.alpha0_attn;
  if (c.alpha0_other) ours["alpha0_other"] = *c.alpha0_other;
  for (const auto& [key, m] : {std::pair{"attn_options", &c.attn_options},
                               {"mlp_options", &c.mlp_options},
                               {"final_options", &c.final_options}})
    if (!m->empty()) ours[key] = position_options_json(*m);
  cfg["normgrad_gpt2_compatible"] = not_gpt2.empty();
  if (not_gpt2.empty())
    ours.erase("norm_options");
  else
    cfg["normgrad_not_gpt2"] = not_gpt2;
  if (!extra_config.empty()) {
    json extra;
    try {
      extra = json::parse(extra_config);
    } catch (const json::exception& e) {
      fail("hf_gpt2", "extra config is not JSON: ", e.what());
    }
    if (!extra.is_object()) fail("hf_gpt2", "extra config must be a JSON object");
    cfg.update(extra);
  }
  save_safetensors(dir + "/model.safetensors", out,
                   {{"format", not_gpt2.empty() ? "pt" : kNotGpt2Format}});
  const std::string text = cfg.dump(2) + "\n";
  write_file_atomic(dir + "/config.json", std::vector<uint8_t>(text.begin(), text.end()));
}

}  // namespace ng::nn
