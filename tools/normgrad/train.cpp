#include "train.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "commands.h"
#include "data.h"
#include "files.h"
#include "normgrad/dist.h"
#ifdef NG_HAS_CUDA
#include "normgrad/nccl.h"
#endif
#include "normgrad/nn/probes.h"
#include "normgrad/normgrad.h"
#include "normgrad/optim.h"
#include "saved_run.h"
#include "tensorboard.h"
#include "tokenizer.h"
#ifdef NG_HAS_CUDA
#include "normgrad/cuda.h"
#endif

namespace ngcli {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ng;

namespace {
std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

std::string fmt_loss(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", x);
  return b;
}

std::string fmt_duration(double s) {
  char b[32];
  if (s < 60)
    std::snprintf(b, sizeof b, "%.0fs", s);
  else
    std::snprintf(b, sizeof b, "%dm%02ds", (int)(s / 60), (int)s % 60);
  return b;
}

// Keeps only metric lines with step <= `step` (a resumed run rewrites what follows).
void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::vector<std::string> keep;
  for (std::string line; std::getline(in, line);) {
    try {
      if (json::parse(line).value("step", (int64_t)0) <= step) keep.push_back(line);
    } catch (...) {
    }
  }
  in.close();
  std::string all;
  for (auto& l : keep) all += l + "\n";
  nn::write_file_atomic(path, std::vector<uint8_t>(all.begin(), all.end()));
}
}  // namespace

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
// Parses one field's value from text (variant specs): the field's own type, fully consumed.
template <class T>
bool field_from_text(const std::string& text, T& v) {
  try {
    size_t used = 0;
    if constexpr (std::is_same_v<T, std::string>) {
      v = text;
      return true;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (text.empty() || text == "true" || text == "1") return v = true, true;
      if (text == "false" || text == "0") return v = false, true;
      return false;
    } else if constexpr (std::is_same_v<T, std::optional<double>>) {
      if (text == "none") return v.reset(), true;
      const double x = std::stod(text, &used);
      if (used != text.size()) return false;
      return v = x, true;
    } else if constexpr (std::is_integral_v<T>) {
      const long long x = std::stoll(text, &used);
      if (used != text.size() || x < (long long)std::numeric_limits<T>::min() ||
          (unsigned long long)x > (unsigned long long)std::numeric_limits<T>::max())
        return false;
      return v = (T)x, true;
    } else {
      const double x = std::stod(text, &used);
      return used == text.size() ? (v = (T)x, true) : false;
    }
  } catch (const std::exception&) {
    return false;
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
#define NG_RESUME(group, type, name, def, check, help)                                          \
  if (FieldGroup::group == FieldGroup::place)                                                   \
    run.name = cli.name;                                                                        \
  else if (cli.given.count(#name) && FieldGroup::group == FieldGroup::book)                     \
    run.name = cli.name;                                                                        \
  else if (cli.given.count(#name) && std::string(#name) != "data" && !(cli.name == saved.name)) \
    fail("train", "--resume: --", dashed(#name), " ", field_str(cli.name),                      \
         " conflicts with the saved run's ", field_str(saved.name),                             \
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
  run.tokenizer = start.tokenizer, run.vocab_size = start.vocab_size;
  return run;
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

std::string corpus_fingerprint(const std::string& text) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bits
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char b[40];
  std::snprintf(b, sizeof b, "%016llx:%zu", (unsigned long long)h, text.size());
  return b;
}

std::string load_corpus(const std::string& path) {
  return path.empty() ? load_default_corpus() : load_text(path);
}

namespace {
// Every number in a probe record as a TensorBoard scalar with a tidy tag: arrays of objects
// that have a "name" are keyed by it, other arrays by index; nested keys join with '/'.
void log_probe_leaves(TensorBoardWriter& tb, const json& j, const std::string& tag, int64_t step) {
  if (j.is_number()) {
    tb.scalar(tag, j.get<double>(), step);
  } else if (j.is_object()) {
    for (auto& [k, v] : j.items()) {
      if (k == "name" || k == "step") continue;
      if (k == "scatter_x" || k == "scatter_y") {  // sampled norm inputs / outputs
        std::vector<double> xs;
        for (const auto& x : v)
          if (x.is_number()) xs.push_back(x.get<double>());
        tb.histogram(tag + (k == "scatter_x" ? "/input_sample" : "/output_sample"), xs, step);
        continue;
      }
      log_probe_leaves(tb, v, tag.empty() ? k : tag + "/" + k, step);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      const json& e = j[i];
      const std::string key = e.is_object() && e.contains("name") && e["name"].is_string()
                                  ? e["name"].get<std::string>()
                                  : std::to_string(i);
      log_probe_leaves(tb, e, tag + "/" + key, step);
    }
  }
}

void log_probe_record(TensorBoardWriter& tb, const json& record, int64_t step) {
  log_probe_leaves(tb, record, "probe", step);
  tb.flush();
}

// Restores the previous SIGINT handler however train() ends (return or exception).
struct SigintScope {
  void (*previous)(int);
  SigintScope() : previous(std::signal(SIGINT, on_sigint)) { g_interrupted = false; }
  ~SigintScope() { std::signal(SIGINT, previous); }
};

// The first parameter, from the output back to the input (named_parameters() reversed:
// ln_f, blocks L-1 .. 0 with mlp, ln_2, attn, ln_1 each, then wpe and wte, whose gradient
// also holds the tied LM head's), whose gradient (or value) is not finite, and how many are.
std::string first_non_finite(const nn::NamedTensors& params, bool gradients) {
  std::string first;
  int bad = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const Tensor t = gradients ? it->second.grad() : it->second;
    if (t.defined() && !all_finite(t) && ++bad == 1) first = it->first;
  }
  if (bad == 0) return "";
  return first + " (" + std::to_string(bad) + " of " + std::to_string(params.size()) +
         " parameters, checked from the output back to the input)";
}
}  // namespace

TrainResult train(const TrainConfig& cfg, std::shared_ptr<dist::Communicator> comm) {
  cfg.validate();
  // Data parallel over comm's ranks: every rank holds the whole model and optimizer, draws
  // the same global batch and computes its own rows of it; gradients are averaged, so every
  // rank takes the same step. Rank 0 ("lead") writes the checkpoint, metrics and logs.
  if (!comm) comm = dist::local();
  const int ranks = comm->size(), rank = comm->rank();
  const bool lead = rank == 0, quiet = cfg.quiet || !lead;

  const std::string ckpt = cfg.out + "/ckpt.safetensors", metrics = cfg.out + "/metrics.jsonl",
                    probes_path = cfg.out + "/probes.jsonl";
  // What this run is: the command line's settings, or the saved run's on --resume. The data
  // path is stored absolute, so a run resumes (and eval/grads find its corpus) from anywhere.
  TrainConfig run = cfg;
  if (!run.data.empty()) run.data = fs::absolute(run.data).lexically_normal().string();
  std::optional<SavedRun> saved;
  if (cfg.resume) {
    if (!fs::exists(ckpt)) fail("train", "--resume: no checkpoint at ", ckpt);
    saved = read_saved_run(ckpt, true);
    run = resumed_config(cfg, saved->cfg);
    if (cfg.given.count("data")) run.data = fs::absolute(cfg.data).lexically_normal().string();
    run.validate();
  }
  if (lead) ensure_writable_dir(run.out, "train");  // before any work: a read-only --out fails now
  if (run.batch % ranks)  // the run's own batch (the saved one on --resume)
    fail("train", "--batch ", run.batch, " (the global batch) must be a multiple of the ", ranks,
         " ranks");
  const Device dev = parse_device(run.device);
  // Tensors travel over NCCL between GPUs (bootstrapped over comm), over comm otherwise.
  std::shared_ptr<dist::Communicator> tensor_comm = comm;
#ifdef NG_HAS_CUDA
  if (dev == Device::CUDA && ranks > 1) tensor_comm = dist::nccl(comm);
#endif
  if (run.threads > 0)
    set_num_threads(run.threads);
  else if (ranks > 1)  // the cores of this host shared by its ranks
    set_num_threads(std::max(1, (int)std::thread::hardware_concurrency() / comm->local_size()));
  if (!quiet) std::printf("%s\n", device_summary(dev).c_str());

  // The tokenizer: the saved run's on --resume, the starting checkpoint's with --init-from,
  // else a new one (characters of the text, --tokenizer's BPE, or ids of a token file).
  std::optional<SavedRun> start;
  if (!saved && !run.init_from.empty()) {
    run.init_from = fs::absolute(run.init_from).lexically_normal().string();
    start = read_saved_run(run.init_from, false);
    run = init_from_config(run, start->cfg);
    run.validate();
  }
  const Tokenizer tok = saved   ? saved->tok
                        : start ? start->tok
                                : new_run_tokenizer(run.data, run.tokenizer, run.vocab_size);
  const std::string saved_fingerprint = saved && saved->file.metadata.count("data_fingerprint")
                                            ? saved->file.metadata.at("data_fingerprint")
                                            : "";
  const RunData corpus = load_run_data(run.data, tok, saved_fingerprint);
  const std::string& fingerprint = corpus.fingerprint;
  check_fits_memory(run, tok.size(), "this run");
  Batcher data(corpus.ids, run.block_size, run.seed + 1);
  nn::GPT model(run.gpt(tok.size(), !saved && !start));
  optim::AdamW opt(
      optim::default_groups(model.named_parameters(), run.weight_decay, run.scalar_lr_scale),
      run.lr, {.beta1 = run.beta1, .beta2 = run.beta2});
  model.to(dev);
  int64_t step = 0;
  // The newest checkpoint known to hold finite values that give a finite loss.
  int64_t good_step = -1;
  if (saved) {
    optim::load_checkpoint(saved->file, ckpt, model, &opt);
    step = saved->step;
    data.generator().set_state(saved->file.metadata.at("data_rng"));
    model.dropout_generator().set_state(saved->file.metadata.at("dropout_rng"));
    good_step = step;
    saved.reset();  // the file's tensors are in the model and optimizer now
    if (lead) {
      truncate_metrics(metrics, step);
      truncate_metrics(probes_path, step);
    }
    if (!quiet) std::printf("resumed from %s at step %lld\n", ckpt.c_str(), (long long)step);
  } else {
    // A new run in this folder: nothing of an earlier one may pass for this run's.
    if (lead)
      for (const auto& f : {metrics, probes_path, ckpt}) fs::remove(f);
  }
  if (start) {  // fine-tuning: the weights (not the optimizer state) of --init-from
    nn::StateDict weights;
    for (auto& [k, v] : start->file.tensors)
      if (k.rfind("optim.", 0) != 0) weights[k] = v;
    try {
      model.load_state_dict(weights);
    } catch (const Error& e) {
      fail("train", "--init-from ", run.init_from,
           " does not fit this run's model (the model "
           "flags must match the checkpoint's): ",
           e.what());
    }
    start.reset();
    if (!quiet) std::printf("initialised from %s\n", run.init_from.c_str());
  }
  // --precision bf16 / tf32: every matrix product of this run (training steps, probes and
  // evaluations) takes bf16- / tf32-rounded operands (tf32: cuBLAS's TF32 tensor-core math
  // on a GPU, the same rounding emulated on the CPU); weights and AdamW state stay float32.
  const MatmulPrecisionScope matmul_precision_scope(parse_matmul_precision(run.precision));
  // Every rank starts from rank 0's weights (equal anyway: same seed or file), and draws its
  // own dropout masks (rank 0 keeps the run's stream; the others a stream of their own).
  {
    TensorList state = model.parameters();
    for (auto& [n, b] : model.named_buffers()) state.push_back(b);
    tensor_comm->broadcast(state);
    if (rank > 0)
      model.dropout_generator() =
          Generator(run.seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(rank + 1)) ^ (uint64_t)step);
  }
  dist::GradientAverager averager(tensor_comm);
  // This rank's rows of a global batch: [rank * B/N, (rank + 1) * B/N).
  const int64_t shard = run.batch / ranks;
  auto my_rows = [&](const Tensor& t) {
    return ranks == 1 ? t : t.narrow(0, rank * shard, shard).contiguous();
  };
  // The mean loss over the global batch: the mean of the ranks' means (equal shard sizes).
  auto global_mean = [&](double local) { return comm->all_reduce_sum(local) / ranks; };
  if (!quiet)
    std::printf(
        "model: %lld parameters, norms %s/%s/%s, vocab %lld, %lld train / %lld val tokens%s\n",
        (long long)model.num_parameters(), model.blocks()[0]->ln_1->kind().c_str(),
        model.blocks()[0]->ln_2->kind().c_str(), model.ln_f->kind().c_str(), (long long)tok.size(),
        (long long)data.train_tokens(), (long long)data.val_tokens(),
        run.precision == "bf16"   ? "; matrix products with bf16 operands"
        : run.precision != "tf32" ? ""
        : dev == Device::CUDA     ? "; matrix products with tf32 operands (TF32 tensor cores)"
                                  : "; matrix products with tf32 operands (emulated on the CPU: "
                                    "rounded operands, float32 sgemm)");

  // Why the model at this point must not be saved: a non-finite parameter, or a non-finite
  // loss on the first evaluation batch (finite weights can still overflow the forward pass).
  auto unsaveable = [&]() -> std::string {
    const std::string bad = first_non_finite(model.named_parameters(), false);
    if (!bad.empty()) return "after the update, non-finite parameter value in " + bad;
    NoGradGuard no_grad;
    model.eval();
    Generator g(run.seed + 2);
    auto [x, y] = data.batch(run.batch, true, &g);
    const double l = global_mean(model.loss(my_rows(x).to(dev), my_rows(y).to(dev)).item());
    model.train();
    return std::isfinite(l)
               ? ""
               : "after the update, the loss on a validation batch is " + std::to_string(l);
  };
  auto save = [&](int64_t at) {
    nn::Metadata meta = {{"config", run.to_json()},
                         {"step", std::to_string(at)},
                         {"data_rng", data.generator().state()},
                         {"dropout_rng", model.dropout_generator().state()},
                         {"norm", run.norm},
                         {"data_fingerprint", fingerprint},
                         {"format", "normgrad-gpt-1"},
                         {"ranks", std::to_string(ranks)}};
    tok.to_metadata(meta);
    if (lead) optim::save_checkpoint(ckpt, model, &opt, meta);
    comm->barrier();  // the file exists before any rank goes on
    good_step = at;
  };
  // The loss curve's evaluations: eval_iters batches at offsets drawn by a fixed generator,
  // the same for every seed and every step, so curves of different seeds and variants see
  // the same text (the run's seed used to choose them, which moved the estimate with it).
  auto eval_loss = [&](bool val) {
    NoGradGuard no_grad;
    model.eval();
    Generator g(val ? 0x5a17'da7a'0001ULL : 0x5a17'da7a'0002ULL);
    TensorList losses;  // read back together: one wait for a GPU, not one per batch
    for (int64_t i = 0; i < run.eval_iters; ++i) {
      auto [x, y] = data.batch(run.batch, val, &g);
      losses.push_back(
          model.loss(my_rows(x).to(dev), my_rows(y).to(dev)).to(DType::F64).reshape({1}));
    }
    double s = 0;
    for (double l : cat(losses, 0).to_vector()) s += l;
    model.train();
    return global_mean(s / (double)run.eval_iters);
  };

  // The reported val loss (the last evaluation): mean cross-entropy over every window of
  // the whole validation split (Batcher::val_windows), not a sample. Windows are dealt to
  // the ranks round-robin in chunks; per-token sums and counts are all-reduced.
  auto full_val_loss = [&]() {
    NoGradGuard no_grad;
    model.eval();
    const int64_t n = data.val_windows(), chunk = std::max<int64_t>(run.batch, 64);
    TensorList sums;  // read back together: one wait for a GPU
    double count = 0;
    for (int64_t first = rank * chunk; first < n; first += chunk * ranks) {
      const int64_t k = std::min(chunk, n - first);
      auto [x, y] = data.val_window_batch(first, k);
      const double tokens = (double)(k * run.block_size);
      sums.push_back((model.loss(x.to(dev), y.to(dev)).to(DType::F64) * tokens).reshape({1}));
      count += tokens;
    }
    double s = 0;
    if (!sums.empty())
      for (double l : cat(sums, 0).to_vector()) s += l;
    model.train();
    return comm->all_reduce_sum(s) / comm->all_reduce_sum(count);
  };

  std::unique_ptr<nn::Probes> probes;
  std::ofstream plog;
  if (run.probe_interval > 0 && lead) {  // probes see rank 0's rows of each batch
    probes = std::make_unique<nn::Probes>(model);
    plog.open(probes_path, std::ios::app);
  }
  std::ofstream mlog;
  if (lead) mlog.open(metrics, std::ios::app);
  // A new event file per segment: TensorBoard joins a resumed run's files by step.
  std::unique_ptr<TensorBoardWriter> tb;
  if (run.tensorboard && lead) tb = std::make_unique<TensorBoardWriter>(run.out);
  auto append = [&](std::ofstream& f, const std::string& line, const std::string& path) {
    f << line << "\n";
    f.flush();
    if (!f) fail("train", "cannot write ", path, " (disk full or folder no longer writable?)");
  };
  SigintScope sigint;
  const bool tty = isatty(fileno(stdout));
  TrainResult res;
  res.final_train_loss = res.final_val_loss = NAN;  // until this segment evaluates
  const auto t0 = std::chrono::steady_clock::now();
  // tokens/s counts training steps only: steps that record probes (hooks, Jacobians) and
  // the time of evaluations and checkpoints are measured apart.
  double train_s = 0, probe_s = 0, eval_s = 0;
  int64_t train_steps = 0;
  const int64_t first = step;
  double last_loss = NAN;
  const int64_t last = run.stop_at > 0 ? std::min(run.stop_at, run.max_steps) : run.max_steps;
  auto diverge = [&](int64_t at, const std::string& what) {
    res.diverged = true;
    res.message = "diverged at step " + std::to_string(at) + ": " + what + "; checkpoint: " +
                  (good_step >= 0 ? ckpt + " from step " + std::to_string(good_step) +
                                        " is the last good one (finite weights and loss)"
                                  : "none written (the first was due at step " +
                                        std::to_string(std::min(run.ckpt_interval, last)) + ")");
    std::fprintf(stderr, "\n%s\n", res.message.c_str());
  };
  // One line of metrics.jsonl (and the TensorBoard scalars) for a finished step.
  auto record = [&](const json& m) {
    const int64_t at = m["step"].get<int64_t>();
    if (lead) append(mlog, m.dump(), metrics);
    if (!tb) return;
    tb->scalar("loss/train_step", m["loss"].get<double>(), at);
    tb->scalar("optim/lr", m["lr"].get<double>(), at);
    tb->scalar("optim/grad_norm", m["grad_norm"].get<double>(), at);
    tb->scalar("speed/tokens_per_s", m["tokens_per_s"].get<double>(), at);
    if (m.contains("val_loss")) {
      tb->scalar("loss/val", m["val_loss"].get<double>(), at);
      tb->scalar("loss/train_eval", m["train_loss_eval"].get<double>(), at);
    }
    if (m.contains("val_loss") || at == last) tb->flush();
  };
  auto diverged_loss = [&](int64_t at, double loss, const std::string& when) {
    const std::string bad = first_non_finite(model.named_parameters(), false);
    diverge(at, "loss " + std::to_string(loss) + " in the forward pass" + when +
                    (bad.empty() ? " with finite parameters"
                                 : "; first non-finite parameter value: " + bad));
  };
  auto diverged_grad = [&](int64_t at, double loss, const std::string& when) {
    const std::string bad = first_non_finite(model.named_parameters(), true);
    diverge(at, "loss " + std::to_string(loss) + when +
                    (bad.empty() ? ", the gradient norm overflows float64"
                                 : ", first non-finite gradient in " + bad));
  };
  // On a GPU (one process) a step's loss and gradient norm stay on the device, and the
  // queued steps are read back together (one wait for the device) every log_interval steps
  // and before anything that needs them: evaluations, checkpoints, probes, samples, Ctrl-C,
  // the last step. Reading them every step would make the host wait for the GPU every
  // step. A divergence is then named with its own step, found at the readout; the steps
  // queued after it have run (on NaN weights), but nothing after it is saved.
  // NG_DEFER_READOUT=1 takes this path on the CPU too (the tests check it there).
  const char* defer_env = std::getenv("NG_DEFER_READOUT");
  const bool defer_readout =
      ranks == 1 && (dev != Device::CPU || (defer_env && std::string(defer_env) == "1"));
  struct Queued {
    int64_t step;
    double lr;
    Tensor loss, gnorm;
    double train_s;  // the run's timers and training-step count after the step
    int64_t train_steps;
    double probe_s, eval_s;
    std::chrono::steady_clock::time_point queued_at;
  };
  std::vector<Queued> queued;
  auto readout_due = [&](int64_t at, bool stopping) {
    auto every = [&](int64_t n) { return n > 0 && at % n == 0; };
    return stopping || at == last || at == run.max_steps || every(run.log_interval) ||
           every(run.eval_interval) || every(run.ckpt_interval) || every(run.sample_interval) ||
           (probes && (at + 1) % run.probe_interval == 0) || queued.size() >= 1000;
  };
  struct Readout {
    bool ok;
    double loss, gnorm;  // of the newest queued step
  };
  // Reads every queued step back, checks it as the CPU path does each step, and writes the
  // metrics of each (but the newest when the loop body records that one).
  auto read_queued = [&](bool record_newest) -> Readout {
    if (queued.empty()) return {true, NAN, NAN};
    TensorList parts;
    for (const auto& q : queued) {
      parts.push_back(q.loss.to(DType::F64).reshape({1}));
      parts.push_back(q.gnorm.to(DType::F64).reshape({1}));
    }
    const std::vector<double> v = cat(parts, 0).to_vector();
    const std::string when = " (read back after step " + std::to_string(queued.back().step) + ")";
    for (size_t i = 0; i < queued.size(); ++i) {
      const Queued& q = queued[i];
      const double l = v[2 * i], g = v[2 * i + 1];
      if (!std::isfinite(l) || !std::isfinite(g)) {
        step = q.step - 1;  // the steps completed before it, as on the CPU path
        if (!std::isfinite(l))
          diverged_loss(q.step, l, when);
        else
          diverged_grad(q.step, l, when);
        queued.clear();
        return {false, l, g};
      }
      if (i + 1 == queued.size() && !record_newest) break;
      const double secs = std::chrono::duration<double>(q.queued_at - t0).count();
      record(
          {{"step", q.step},
           {"loss", l},
           {"lr", q.lr},
           {"grad_norm", g},
           {"tokens_per_s",
            q.train_s > 0 ? (double)q.train_steps * run.batch * run.block_size / q.train_s : 0.0},
           {"train_s", q.train_s},
           {"probe_s", q.probe_s},
           {"time_eval_s", q.eval_s},
           {"time_s", secs}});
    }
    const Readout r{true, v[v.size() - 2], v[v.size() - 1]};
    queued.clear();
    return r;
  };
  while (step < last) {
    const auto step_t0 = std::chrono::steady_clock::now();
    const double lr = optim::warmup_cosine(step, run.lr, run.warmup, run.max_steps, run.min_lr);
    opt.set_lr(lr);
    auto [xh, yh] = data.batch(run.batch, false);
    const Tensor x = my_rows(xh).to(dev), y = my_rows(yh).to(dev);
    const bool probing = probes && (step + 1) % run.probe_interval == 0;
    nn::set_norm_step(model, step);  // scheduled norms (TaperNorm) follow the run
    if (probing) probes->arm();
    Tensor loss = model.loss(x, y);
    opt.zero_grad();
    loss.backward();
    averager.average(model.parameters());  // every rank now holds the global batch's gradient
    if (probing) probes->before_update();
    if (probing && tb)  // the distribution of every parameter's gradient, before clipping
      for (auto& [n, p] : model.named_parameters())
        if (p.grad().defined()) tb->histogram("grad/" + n, p.grad().to_vector(), step + 1);
    bool stop = g_interrupted;
    double gnorm = NAN;
    if (defer_readout && !probing) {
      // The loss and the gradient norm stay on the device until the next readout.
      const Tensor gn = optim::grad_norm_tensor(model.parameters());
      optim::clip_grads_to(model.parameters(), run.grad_clip, gn);
      opt.step();
      ++step;
      if (!readout_due(step, stop)) {
        const auto now = std::chrono::steady_clock::now();
        train_s += std::chrono::duration<double>(now - step_t0).count();
        ++train_steps;
        queued.push_back({step, lr, loss.detach(), gn, train_s, train_steps, probe_s, eval_s, now});
        continue;
      }
      // The newest step: read back with the queued ones, recorded below as on the CPU path.
      queued.push_back({step, lr, loss.detach(), gn, 0, 0, 0, 0, step_t0});
      const auto [ok, l, g] = read_queued(false);  // one wait for the device
      if (!ok) break;
      last_loss = l, gnorm = g;
    } else {
      if (!read_queued(true).ok) break;  // steps still queued come first
      // The global loss, and whether any rank got Ctrl-C (all ranks stop at the same step).
      if (ranks > 1) {
        Tensor agg = from_vector(std::vector<double>{loss.item(), stop ? 1.0 : 0.0}, {2});
        comm->all_reduce_sum(TensorList{agg});
        const auto v = agg.to_vector();
        last_loss = v[0] / ranks, stop = v[1] > 0;
      } else {
        last_loss = loss.item();
      }
      if (!std::isfinite(last_loss)) {
        diverged_loss(step + 1, last_loss, "");
        break;
      }
      // One pass over the gradients gives the norm and the finiteness check (the norm is
      // non-finite exactly when an element is); checked before clipping, which would spread
      // a NaN to every gradient.
      gnorm = optim::grad_norm(model.parameters());
      if (!std::isfinite(gnorm)) {
        diverged_grad(step + 1, last_loss, "");
        break;
      }
      optim::clip_grads_to(model.parameters(), run.grad_clip, gnorm);
      opt.step();
      ++step;
    }
    if (probing) {
      const std::string record = probes->after_update(step);
      append(plog, record, probes_path);
      if (tb) log_probe_record(*tb, json::parse(record), step);
    }
    const double step_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - step_t0).count();
    if (probing) {
      probe_s += step_s;
    } else {
      train_s += step_s;
      ++train_steps;
    }
    const double tps =
        train_s > 0 ? (double)train_steps * run.batch * run.block_size / train_s : 0.0;
    json m = {{"step", step}, {"loss", last_loss}, {"lr", lr}, {"grad_norm", gnorm}};
    if (step % run.eval_interval == 0 || step == run.max_steps) {
      const auto e0 = std::chrono::steady_clock::now();
      m["val_loss"] = res.final_val_loss = eval_loss(true);
      m["train_loss_eval"] = res.final_train_loss = eval_loss(false);
      if (step == run.max_steps) {  // the run's result: the whole split
        m["val_loss_full"] = res.final_val_loss = full_val_loss();
        m["val_windows"] = data.val_windows();
      }
      eval_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m["tokens_per_s"] = tps;  // training steps only
    m["train_s"] = train_s;
    m["probe_s"] = probe_s;
    m["time_eval_s"] = eval_s;
    m["time_s"] = secs;
    record(m);
    if (!quiet && (tty || step % run.log_interval == 0 || m.contains("val_loss"))) {
      const double eta = (double)(run.max_steps - step) * secs / (double)(step - first);
      std::printf("%sstep %5lld/%lld | loss %.4f | %6.0f tok/s | ETA %s", tty ? "\r" : "",
                  (long long)step, (long long)run.max_steps, last_loss, tps,
                  fmt_duration(eta).c_str());
      if (m.contains("val_loss")) std::printf(" | val %.4f", m["val_loss"].get<double>());
      if (m.contains("val_loss_full"))
        std::printf(" | val, whole split %.4f", m["val_loss_full"].get<double>());
      std::printf(tty && !m.contains("val_loss") ? "   " : "\n");
      std::fflush(stdout);
    }
    if (run.sample_interval > 0 && step % run.sample_interval == 0 && lead) {
      Generator g(run.seed + 1000003 * (uint64_t)step);  // its own draws: training is unchanged
      const std::string text = sample_text(model, tok, "", 200, 1.0, 0, g);
      if (!quiet) std::printf("sample at step %lld:\n%s\n", (long long)step, text.c_str());
      if (tb) tb->text("sample", text, step);
    }
    res.tokens_per_s = tps;
    res.train_seconds = train_s;
    res.probe_seconds = probe_s;
    res.eval_seconds = eval_s;
    if (step % run.ckpt_interval == 0 || step == last || stop) {
      if (const std::string why = unsaveable(); !why.empty()) {
        diverge(step, why + " (not saved)");
        break;
      }
      save(step);
    }
    if (stop) {
      res.interrupted = true;
      res.message = "interrupted: checkpoint saved at step " + std::to_string(step) + " in " + ckpt;
      std::printf("\n%s\n", res.message.c_str());
      break;
    }
  }
  res.steps = step;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!res.diverged && !res.interrupted && !quiet) {
    const std::string losses =
        std::isfinite(res.final_val_loss)
            ? "train " + fmt_loss(res.final_train_loss) + ", val " + fmt_loss(res.final_val_loss)
            : std::string("no evaluation in this segment");
    std::printf("done: %lld steps in %s, %s, %.0f tokens/s; checkpoint %s\n", (long long)step,
                fmt_duration(res.seconds).c_str(), losses.c_str(), res.tokens_per_s, ckpt.c_str());
  }
  return res;
}

}  // namespace ngcli
