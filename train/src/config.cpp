#include "normgrad/train/config.h"

#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "normgrad/normgrad.h"
#include "normgrad/train/data.h"
#include "normgrad/train/files.h"
#ifdef NG_HAS_CUDA
#include "normgrad/cuda.h"
#endif

namespace ngcli {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ng;

namespace {
enum class FieldGroup { place, run, model, norm, optim, book };

// JSON for one field (optional: null when unset).
template <class T>
json field_to_json(const T& v) {
  return json(v);
}
template <class T>
json field_to_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// Reads one field, refusing a value of the wrong type with a message naming the field.
template <class T>
void field_from_json(const json& j, const char* key, T& v) {
  const auto bad = [&](const char* want) {
    fail("config", "field '", key, "' must be ", want, ", got ", j.dump());
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) bad("true or false");
    v = j.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) bad("a string");
    v = j.get<std::string>();
  } else if constexpr (std::is_same_v<T, std::optional<double>>) {
    if (j.is_null())
      v.reset();
    else if (!j.is_number())
      bad("a number or null");
    else
      v = j.get<double>();
  } else if constexpr (std::is_unsigned_v<T>) {
    if (!j.is_number_unsigned()) bad("a non-negative integer");
    v = j.get<T>();
  } else if constexpr (std::is_integral_v<T>) {
    if (!j.is_number_integer()) bad("an integer");
    const int64_t x = j.get<int64_t>();
    if (x < (int64_t)std::numeric_limits<T>::min() || x > (int64_t)std::numeric_limits<T>::max())
      bad("an integer in range");
    v = (T)x;
  } else {
    if (!j.is_number()) bad("a number");
    v = j.get<T>();
  }
}

template <class T>
std::string field_str(const T& v) {
  if constexpr (std::is_same_v<T, std::string>)
    return v.empty() ? "\"\"" : v;
  else if constexpr (std::is_same_v<T, bool>)
    return v ? "true" : "false";
  else if constexpr (std::is_same_v<T, std::optional<double>>)
    return v ? field_str(*v) : "unset";
  else {
    std::ostringstream o;
    o << v;
    return o.str();
  }
}

// The check of one value; the message names the field and the value.
template <class T>
void check_field(const char* name, const T& v, FieldCheck check) {
  using C = FieldCheck;
  if constexpr (std::is_same_v<T, std::optional<double>>) {
    if (v) check_field(name, *v, check);
  } else if constexpr (std::is_same_v<T, std::string>) {
    try {
      utf8_decode(v, name);  // the config is saved as JSON, which holds UTF-8 only
    } catch (const Error&) {
      fail("config", name, " is not valid UTF-8 text");
    }
    if (check == C::kPrecision && v != "fp32" && v != "tf32" && v != "bf16")
      fail("config", name, " must be fp32, tf32 or bf16, got '", v, "'");
    if (check == C::kGelu && v != "exact" && v != "tanh")
      fail("config", name, " must be exact or tanh, got '", v, "'");
    if (check == C::kScale && v != "one" && v != "sqrtc")
      fail("config", name, " must be one or sqrtc, got '", v, "'");
    if (check == C::kDevice && v != "cpu" && v != "cuda")
      fail("config", name, " must be cpu or cuda, got '", v, "'");
    if ((check == C::kNormKind || (check == C::kNormKindOrEmpty && !v.empty())) &&
        !has_norm_kind(v))
      fail("config", name, ": ", unknown_norm_kind(v));
  } else if constexpr (!std::is_same_v<T, bool>) {
    const double x = (double)v;
    if constexpr (std::is_floating_point_v<T>)
      if (!std::isfinite(x)) fail("config", name, " must be finite, got ", x);
    if (check == C::kPositive && !(x > 0)) fail("config", name, " must be > 0, got ", v);
    if (check == C::kNonNegative && !(x >= 0)) fail("config", name, " must be >= 0, got ", v);
    if (check == C::kUnit && !(x >= 0 && x <= 1))
      fail("config", name, " must be in [0, 1], got ", v);
  }
}
// Parses one field's value from text (variant specs): the field's own type, the whole text,
// strictly (number_from_text: no hex, no spaces around it).
template <class T>
bool field_from_text(const std::string& text, T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    v = text;
    return true;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (text.empty() || text == "true" || text == "1") return v = true, true;
    if (text == "false" || text == "0") return v = false, true;
    return false;
  } else if constexpr (std::is_same_v<T, std::optional<double>>) {
    if (text == "none") return v.reset(), true;
    double x = 0;
    return number_from_text(text, x) ? (v = x, true) : false;
  } else {
    return number_from_text(text, v);
  }
}
}  // namespace

std::string KindOptionKey::help() const {
  if (position.empty()) return spec.help;
  const std::string where = position == "attn"  ? "the input norm of attention (ln_1)"
                            : position == "mlp" ? "the post-attention norm (ln_2)"
                                                : "the last-layer norm (ln_f)";
  return spec.name + " at " + where + " (" + spec.kind + ")";
}

std::vector<KindOptionKey> kind_option_keys() {
  std::vector<KindOptionKey> out;
  for (const auto& spec : ng::norm_option_specs()) {
    out.push_back({spec.name, "", spec});
    if (spec.per_position)
      for (const char* p : {"attn", "mlp", "final"}) out.push_back({spec.name + "_" + p, p, spec});
  }
  return out;
}

namespace {
const KindOptionKey* find_kind_option(const std::vector<KindOptionKey>& keys,
                                      const std::string& key) {
  for (const auto& k : keys)
    if (k.key == key) return &k;
  return nullptr;
}
// A kind option's value in a config: set, else its init (every position) or unset.
std::optional<double> kind_option_value(const TrainConfig& c, const KindOptionKey& k) {
  if (auto it = c.kind_options.find(k.key); it != c.kind_options.end()) return it->second;
  if (k.position.empty()) return k.spec.init;
  return std::nullopt;
}
// "lambda0 must be > 0, got -1" (empty when v is fine), named by the key.
std::string kind_option_error(const KindOptionKey& k, double v) {
  ng::NormOptionSpec spec = k.spec;
  spec.name = k.key;
  return ng::norm_option_range_error(spec, v);
}
// A kind option given on the command line that differs from `other`'s: an error naming both.
void check_given_kind_options(const TrainConfig& cli, const TrainConfig& other, const char* flag,
                              const char* whose, const char* advice) {
  for (const auto& k : kind_option_keys())
    if (const auto a = kind_option_value(cli, k), b = kind_option_value(other, k);
        cli.given.count(k.key) && a != b)
      fail("train", flag, ": --", dashed(k.key), " ", field_str(a), " conflicts with ", whose, " ",
           field_str(b), " (", advice, ")");
}
// What a config saves of the kind options (checkpoint JSON, describe): every one set, and
// the every-position options of the kinds it uses.
std::vector<std::pair<std::string, double>> saved_kind_options(const TrainConfig& c) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& k : kind_option_keys()) {
    const std::string& kind = k.spec.kind;
    const bool used = k.position.empty() && (kind == c.norm || kind == c.norm_attn ||
                                             kind == c.norm_mlp || kind == c.norm_final);
    if (c.kind_options.count(k.key) || used) out.push_back({k.key, *kind_option_value(c, k)});
  }
  return out;
}
}  // namespace

std::vector<std::string> TrainConfig::to_flags() const {
  std::vector<std::string> flags;
  const auto add = [&](const char* name, const auto& v) {
    using T = std::decay_t<decltype(v)>;
    const std::string flag = "--" + dashed(name);
    if constexpr (std::is_same_v<T, bool>) {
      if (v) flags.push_back(flag);  // flags default off; --bias takes a value
    } else if constexpr (std::is_same_v<T, std::optional<double>>) {
      if (v) {
        std::ostringstream o;
        o.precision(17);
        o << *v;
        flags.insert(flags.end(), {flag, o.str()});
      }
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v.empty()) flags.insert(flags.end(), {flag, v});
    } else {
      std::ostringstream o;
      o.precision(17);
      o << v;
      flags.insert(flags.end(), {flag, o.str()});
    }
  };
  // A bool that defaults to true is an option taking a value (--bias false), not a switch.
  const auto add_field = [&](const char* name, const auto& v, const auto& def) {
    if constexpr (std::is_same_v<std::decay_t<decltype(v)>, bool>)
      if (def) return (void)flags.insert(flags.end(), {"--" + dashed(name), v ? "true" : "false"});
    add(name, v);
  };
#define NG_TO_FLAG(group, type, name, def, check, help) add_field(#name, name, type(def));
  NG_TRAIN_FIELDS(NG_TO_FLAG)
#undef NG_TO_FLAG
  for (const auto& [key, v] : kind_options) add(key.c_str(), v);
  return flags;
}

std::vector<std::string> recipe_field_names() {
  std::vector<std::string> names;
#define NG_RECIPE_NAME(group, type, name, def, check, help)                              \
  if (FieldGroup::group == FieldGroup::model || FieldGroup::group == FieldGroup::norm || \
      FieldGroup::group == FieldGroup::optim)                                            \
    names.push_back(#name);
  NG_TRAIN_FIELDS(NG_RECIPE_NAME)
#undef NG_RECIPE_NAME
  for (const auto& k : kind_option_keys()) names.push_back(k.key);
  return names;
}

void set_recipe_field(TrainConfig& c, const std::string& key, const std::string& value,
                      const std::string& context) {
  bool found = false;
#define NG_SET_FIELD(group, type, name, def, check, help)                                 \
  if (key == #name &&                                                                     \
      (FieldGroup::group == FieldGroup::model || FieldGroup::group == FieldGroup::norm || \
       FieldGroup::group == FieldGroup::optim)) {                                         \
    found = true;                                                                         \
    if (!field_from_text(value, c.name))                                                  \
      fail("variant", context, ": bad value '", value, "' for key '", key, "' (",         \
           std::string(help), ")");                                                       \
    check_field(#name, c.name, FieldCheck::check);                                        \
  }
  NG_TRAIN_FIELDS(NG_SET_FIELD)
#undef NG_SET_FIELD
  const auto keys = kind_option_keys();
  if (const KindOptionKey* k = find_kind_option(keys, key)) {
    double v = 0;
    if (!field_from_text(value, v))
      fail("variant", context, ": bad value '", value, "' for key '", key, "' (", k->help(), ")");
    if (const std::string e = kind_option_error(*k, v); !e.empty())
      fail("variant", context, ": ", e);
    c.kind_options[key] = v;
    found = true;
  }
  if (!found) {
    std::string keys;
    for (auto& k : recipe_field_names()) keys += (keys.empty() ? "" : ", ") + k;
    fail("variant", context, ": unknown key '", key, "' (keys: ", keys, ")");
  }
}

nn::GPTConfig TrainConfig::gpt(int64_t vocab, bool init_weights) const {
  nn::GPTConfig g;
  g.vocab = vocab;
  g.init_weights = init_weights;
  g.seed = seed;
#define NG_TO_GPT_place(name)
#define NG_TO_GPT_run(name)
#define NG_TO_GPT_optim(name)
#define NG_TO_GPT_book(name)
#define NG_TO_GPT_model(name) g.name = name;
#define NG_TO_GPT_norm(name) g.norm_options.name = name;
#define NG_TO_GPT(group, type, name, def, check, help) NG_TO_GPT_##group(name)
  NG_TRAIN_FIELDS(NG_TO_GPT)
#undef NG_TO_GPT
  const auto keys = kind_option_keys();
  for (const auto& [key, v] : kind_options) {
    const KindOptionKey* k = find_kind_option(keys, key);
    if (!k) fail("config", "unknown norm option '", key, "'");
    auto& at = k->position == "attn"    ? g.attn_options
               : k->position == "mlp"   ? g.mlp_options
               : k->position == "final" ? g.final_options
                                        : g.norm_options.extra;
    at[k->spec.name] = v;
  }
  return g;
}

TrainConfig TrainConfig::from_gpt(const nn::GPTConfig& g) {
  TrainConfig c;
#define NG_FROM_GPT_place(name)
#define NG_FROM_GPT_run(name)
#define NG_FROM_GPT_optim(name)
#define NG_FROM_GPT_book(name)
#define NG_FROM_GPT_model(name) c.name = g.name;
#define NG_FROM_GPT_norm(name) c.name = g.norm_options.name;
#define NG_FROM_GPT(group, type, name, def, check, help) NG_FROM_GPT_##group(name)
  NG_TRAIN_FIELDS(NG_FROM_GPT)
#undef NG_FROM_GPT
  for (const auto& [name, v] : g.norm_options.extra) c.kind_options[name] = v;
  for (const auto& [name, v] : g.attn_options) c.kind_options[name + "_attn"] = v;
  for (const auto& [name, v] : g.mlp_options) c.kind_options[name + "_mlp"] = v;
  for (const auto& [name, v] : g.final_options) c.kind_options[name + "_final"] = v;
  c.seed = g.seed;
  return c;
}

std::string TrainConfig::to_json() const {
  json j;
#define NG_TO_JSON(group, type, name, def, check, help) \
  if (FieldGroup::group != FieldGroup::place) j[std::string(#name)] = field_to_json(name);
  NG_TRAIN_FIELDS(NG_TO_JSON)
#undef NG_TO_JSON
  for (const auto& [key, v] : saved_kind_options(*this)) j[key] = v;
  return j.dump();
}

TrainConfig TrainConfig::from_json(const std::string& s) {
  TrainConfig c;
  json j;
  try {
    j = json::parse(s);
  } catch (const std::exception& e) {
    fail("config", "checkpoint config is not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) fail("config", "checkpoint config must be a JSON object, got ", j.dump());
  if (j.contains("paper_form")) {  // checkpoints before the scale field: a bool
    if (!j["paper_form"].is_boolean()) fail("config", "field 'paper_form' must be true or false");
    if (!j.contains("scale")) j["scale"] = j["paper_form"].get<bool>() ? "sqrtc" : "one";
    j.erase("paper_form");
  }
  const auto keys = kind_option_keys();
  for (auto& [key, value] : j.items()) {
    bool known = find_kind_option(keys, key) != nullptr;
#define NG_KNOWN(group, type, name, def, check, help) known |= key == #name;
    NG_TRAIN_FIELDS(NG_KNOWN)
#undef NG_KNOWN
    if (!known) fail("config", "unknown field '", key, "' (written by another normgrad version?)");
  }
#define NG_FROM_JSON(group, type, name, def, check, help)                                       \
  if (const std::string key = #name; FieldGroup::group != FieldGroup::place && j.contains(key)) \
    field_from_json(j.at(key), #name, c.name);
  NG_TRAIN_FIELDS(NG_FROM_JSON)
#undef NG_FROM_JSON
  for (const auto& k : keys)
    if (j.contains(k.key) && !j[k.key].is_null()) {  // null: a per-position option unset
      double v = 0;
      field_from_json(j[k.key], k.key.c_str(), v);
      c.kind_options[k.key] = v;
    }
  return c;
}

void TrainConfig::validate() const {
#define NG_CHECK_FIELD(group, type, name, def, check, help) \
  check_field(#name, name, FieldCheck::check);
  NG_TRAIN_FIELDS(NG_CHECK_FIELD)
#undef NG_CHECK_FIELD
  const auto keys = kind_option_keys();
  for (const auto& [key, v] : kind_options) {
    const KindOptionKey* k = find_kind_option(keys, key);
    if (!k) fail("config", "unknown norm option '", key, "'");
    if (const std::string e = kind_option_error(*k, v); !e.empty()) fail("config", e);
  }
  // Upper bounds far above what a CPU trains and far below where sizes overflow an int64;
  // the memory a config needs is checked against the machine once the vocabulary is known.
  const std::pair<const char*, std::pair<int64_t, int64_t>> limits[] = {
      {"n_layer", {n_layer, 1024}},
      {"n_head", {n_head, 1024}},
      {"n_embd", {n_embd, 65536}},
      {"block_size", {block_size, 65536}},
      {"batch", {batch, 65536}},
      {"grad_accum", {grad_accum, 65536}},
      {"eval_iters", {eval_iters, 1000000}},
      {"threads", {threads, 4096}},
      {"max_steps", {max_steps, (int64_t)1e12}},
      {"stop_at", {stop_at, (int64_t)1e12}},
      {"warmup", {warmup, (int64_t)1e12}},
      {"taper_start", {taper_start, (int64_t)1e12}},
      {"taper_steps", {taper_steps, (int64_t)1e12}}};
  for (const auto& [name, value_max] : limits)
    if (value_max.first > value_max.second)
      fail("config", name, " ", value_max.first, " is above the limit of ", value_max.second);
  if (n_embd % n_head != 0)
    fail("config", "n_embd ", n_embd, " is not divisible by n_head ", n_head);
  if (batch * block_size > ((int64_t)1 << 24))
    fail("config", "batch x block_size = ", batch * block_size,
         " tokens per step is above the limit of 2^24");
}

std::string TrainConfig::describe() const {
  std::string out;
#define NG_DESCRIBE(group, type, name, def, check, help) \
  if (FieldGroup::group != FieldGroup::place)            \
    out += (out.empty() ? "" : " ") + std::string(#name) + "=" + field_str(name);
  NG_TRAIN_FIELDS(NG_DESCRIBE)
#undef NG_DESCRIBE
  for (const auto& [key, v] : saved_kind_options(*this)) out += " " + key + "=" + field_str(v);
  return out;
}

std::string dashed(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

// The settings a resumed run uses: the saved run's, with the place fields and any
// bookkeeping flags from the command line. A flag that would change what the run is (data,
// model, norm, optimizer, schedule) is an error naming both values.
TrainConfig resumed_config(const TrainConfig& cli, const TrainConfig& saved) {
  TrainConfig run = saved;
#define NG_RESUME(group, type, name, def, check, help)                      \
  if (FieldGroup::group == FieldGroup::place)                               \
    run.name = cli.name;                                                    \
  else if (cli.given.count(#name) && FieldGroup::group == FieldGroup::book) \
    run.name = cli.name;                                                    \
  else if (cli.given.count(#name) && std::string(#name) != "data" &&        \
           std::string(#name) != "val_data" && !(cli.name == saved.name))   \
    fail("train", "--resume: --", dashed(#name), " ", field_str(cli.name),  \
         " conflicts with the saved run's ", field_str(saved.name),         \
         " (drop the flag to continue the run, or start a new run in another --out)");
  NG_TRAIN_FIELDS(NG_RESUME)
#undef NG_RESUME
  check_given_kind_options(
      cli, saved, "--resume", "the saved run's",
      "drop the flag to continue the run, or start a new run in another --out");
  run.given = cli.given;
  return run;
}

TrainConfig init_from_config(const TrainConfig& cli, const TrainConfig& start) {
  TrainConfig run = cli;
#define NG_INIT_FROM(group, type, name, def, check, help)                                  \
  if ((FieldGroup::group == FieldGroup::model || FieldGroup::group == FieldGroup::norm) && \
      std::string(#name) != "dropout") {                                                   \
    if (cli.given.count(#name) && !(cli.name == start.name))                               \
      fail("train", "--init-from: --", dashed(#name), " ", field_str(cli.name),            \
           " conflicts with the starting checkpoint's ", field_str(start.name),            \
           " (the model comes from the checkpoint: drop the flag)");                       \
    run.name = start.name;                                                                 \
  }
  NG_TRAIN_FIELDS(NG_INIT_FROM)
#undef NG_INIT_FROM
  check_given_kind_options(cli, start, "--init-from", "the starting checkpoint's",
                           "the model comes from the checkpoint: drop the flag");
  run.kind_options = start.kind_options;
  // The tokenizer comes with the weights (its ids index their embedding): a different one
  // given here would be silently ignored, so it is refused.
  if (cli.given.count("tokenizer") && cli.tokenizer != start.tokenizer)
    fail("train", "--init-from: --tokenizer ", field_str(cli.tokenizer),
         " would be ignored: the starting checkpoint's tokenizer is used (",
         start.tokenizer.empty() ? std::string("the one saved in it") : start.tokenizer,
         "); drop the flag");
  if (cli.given.count("vocab_size") && cli.vocab_size != start.vocab_size)
    fail("train", "--init-from: --vocab-size ", cli.vocab_size,
         " would be ignored: the starting checkpoint's tokenizer and vocabulary are used; drop "
         "the flag");
  run.tokenizer = start.tokenizer, run.vocab_size = start.vocab_size;
  return run;
}

void check_seed_range(const char* op, uint64_t first, uint64_t count, const std::string& flags) {
  if (count > 0 && first > std::numeric_limits<uint64_t>::max() - (count - 1))
    fail(op, flags, ": the seeds ", first, " + 0..", count - 1,
         " pass 2^64 - 1 = 18446744073709551615 (they would wrap to 0)");
}

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name != "cuda") fail("device", "unknown device '", name, "' (cpu or cuda)");
#ifdef NG_HAS_CUDA
  if (!cuda::is_available())
    fail("device", "--device cuda: no usable GPU here (", cuda::unavailable_reason(), ")");
  return Device::CUDA;
#else
  fail("device",
       "--device cuda: this normgrad was built without the CUDA backend (NG_CUDA=OFF "
       "or no CUDA toolkit at build time)");
#endif
}

std::string device_summary(Device d) {
#ifdef NG_HAS_CUDA
  if (d == Device::CUDA) return "device: cuda, " + cuda::device_description();
#endif
  return thread_config();
}

std::string corpus_fingerprint(std::string_view text) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bits
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char b[40];
  std::snprintf(b, sizeof b, "%016llx:%zu", (unsigned long long)h, text.size());
  return b;
}

std::string load_corpus(const std::string& path) { return std::string(CorpusText(path).text()); }

}  // namespace ngcli
