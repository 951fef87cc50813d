#include "normgrad/train/inspect.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "normgrad/normgrad.h"
#include "normgrad/optim.h"
#include "normgrad/train/data.h"
#include "normgrad/train/saved_run.h"
#include "normgrad/train/train.h"

namespace ngcli {
using namespace ng;

namespace {
struct Loaded {
  TrainConfig cfg;
  Tokenizer tok;
  std::unique_ptr<nn::GPT> model;
  nn::Metadata meta;
  int64_t step = 0;          // the checkpoint's step (0 when it has none)
  Device dev = Device::CPU;  // where the model's weights are
};

// The weights are loaded on the host (where the file was read) and then moved in one upload:
// a checkpoint does not record the device it was written on, and needs not.
Loaded load(const std::string& ckpt, const std::string& device) {
  const Device dev = parse_device(device);   // before the read: a missing GPU fails at once
  SavedRun r = read_saved_run(ckpt, false);  // every field and tensor checked
  Loaded l{.cfg = r.cfg,
           .tok = r.tok,
           .model = saved_model(r),
           .meta = r.file.metadata,
           .step = r.step,
           .dev = dev};
  l.model->to(dev);
  return l;
}

// A non-finite value as people write it: nan (whatever its sign bit), inf or -inf.
std::string non_finite_text(double v) { return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

// The parameter of largest magnitude, "|parameter| up to 3e+38 (transformer.wte.weight)":
// a checkpoint's tensors are all checked finite, so a non-finite output comes from finite
// weights that overflow the forward pass, and this names the likeliest culprit.
std::string largest_parameter(const nn::GPT& model) {
  std::string name;
  double top = -1;
  for (const auto& [n, p] : model.named_parameters())
    if (const double m = max(abs(p.detach())).item(); m > top) top = m, name = n;
  std::ostringstream s;
  s << "|parameter| up to " << top << " (" << name << ")";
  return s.str();
}

// Why a batch's loss is not finite, in one line: its first non-finite logit (one more
// forward pass of `x`) and the largest parameter.
std::string non_finite_logits(nn::GPT& model, const Tensor& x) {
  NoGradGuard no_grad;
  const std::vector<double> z = model(x).to_vector();
  const size_t T = (size_t)x.size(1), V = z.size() / ((size_t)x.size(0) * T);
  std::ostringstream s;
  const auto bad = std::find_if(z.begin(), z.end(), [](double v) { return !std::isfinite(v); });
  if (bad == z.end()) {
    s << "its logits are finite";
  } else {
    const size_t i = (size_t)(bad - z.begin());
    s << "first non-finite logit: logits[" << i / (T * V) << ", " << i / V % T << ", " << i % V
      << "] = " << non_finite_text(*bad) << " (sequence, position, token id)";
  }
  s << "; " << largest_parameter(model);
  return s.str();
}

// The first parameter, from the output back to the input, whose gradient is not finite, and
// how many are; empty when all are.
std::string first_non_finite_gradient(const nn::NamedTensors& params) {
  std::string first;
  int bad = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it)
    if (const Tensor g = it->second.grad(); g.defined() && !all_finite(g) && ++bad == 1)
      first = it->first;
  if (bad == 0) return "";
  return first + " (" + std::to_string(bad) + " of " + std::to_string(params.size()) +
         " parameters, checked from the output back to the input)";
}

// grads --step K replays the offsets of the K - 1 training batches before it (nothing else
// is built): at most this many offsets, about a second.
constexpr int64_t kMaxReplayedOffsets = 100'000'000;
}  // namespace

double eval_command(const std::string& ckpt, const std::string& data, int64_t max_windows,
                    const std::string& device) {
  const auto t0 = std::chrono::steady_clock::now();
  Loaded l = load(ckpt, device);
  const auto t1 = std::chrono::steady_clock::now();
  // Without --data: the run's own validation split (its --val-data file, or the last 10% of
  // its corpus, never trained on), not the whole text, which would mix in the training split.
  const bool own_val = data.empty() && !l.cfg.val_data.empty();
  TokenIds ids = load_run_data(!data.empty() ? data
                               : own_val     ? l.cfg.val_data
                                             : l.cfg.data,
                               l.tok)
                     .ids;
  const std::string source =
      !data.empty() ? data + " (all of it)"
      : own_val     ? "the run's validation file " + l.cfg.val_data + " (--val-data, all of it)"
                    : "the validation split of the run's corpus (last 10%, held out from training)";
  if (data.empty() && !own_val) ids = ids.slice((int64_t)(0.9 * (double)ids.size()), ids.size());
  const int64_t T = l.cfg.block_size, n = ((int64_t)ids.size() - 1) / T;
  if (n < 1) fail("eval", "text has ", ids.size(), " tokens, fewer than block_size + 1 = ", T + 1);
  // Windows per forward pass: up to 32, fewer when the logits (B x T x vocab floats) would
  // pass 2^26 values (256 MiB): GPT-2 small evaluates one 1024-token window at a time.
  const int64_t logits_per_window = T * l.tok.size();
  const int64_t B = std::clamp<int64_t>((1 << 26) / std::max<int64_t>(1, logits_per_window), 1, 32);
  const int64_t windows = max_windows > 0 ? std::min(n, max_windows) : n;
  NoGradGuard no_grad;
  // Each pass's loss x its windows, read back together at the end: one wait for a GPU, not
  // one per pass; summed on the host in pass order in float64, as before.
  TensorList weighted, inputs;
  for (int64_t w0 = 0; w0 < windows; w0 += B) {
    const int64_t b = std::min(B, windows - w0);
    std::vector<int64_t> x(b * T), y(b * T);
    for (int64_t i = 0; i < b; ++i)
      for (int64_t t = 0; t < T; ++t) {
        x[i * T + t] = ids[(w0 + i) * T + t];
        y[i * T + t] = ids[(w0 + i) * T + t + 1];
      }
    const Tensor xs = from_vector(x, {b, T}).to(l.dev), ys = from_vector(y, {b, T}).to(l.dev);
    weighted.push_back(l.model->loss(xs, ys).to(DType::F64).reshape({1}) * (double)b);
    inputs.push_back(xs);
  }
  double total = 0;
  const std::vector<double> pass_losses = cat(weighted, 0).to_vector();
  for (size_t p = 0; p < pass_losses.size(); ++p) {
    if (!std::isfinite(pass_losses[p])) {  // a NaN loss is no result: say where it starts
      const int64_t first = (int64_t)p * B, last = std::min(windows, first + B) - 1;
      fail("eval", ckpt, ": the loss is ", non_finite_text(pass_losses[p]), " on windows ", first,
           "..", last, " (of ", windows, "): the model's output is not finite; ",
           non_finite_logits(*l.model, inputs[p]));
    }
    total += pass_losses[p];
  }
  const double loss = total / (double)windows;
  const auto t2 = std::chrono::steady_clock::now();
  const double load_s = std::chrono::duration<double>(t1 - t0).count(),
               eval_s = std::chrono::duration<double>(t2 - t1).count();
  std::printf("eval: loss %.4f (perplexity %.2f) over %lld windows of %lld tokens of %s\n", loss,
              std::exp(loss), (long long)windows, (long long)T, source.c_str());
  std::printf("eval: checkpoint loaded in %.2f s; data + forward passes %.2f s (%.0f tokens/s)\n",
              load_s, eval_s, (double)(windows * T) / eval_s);
  return loss;
}

std::vector<double> sampling_weights(std::vector<double> z, double temperature, int64_t top_k,
                                     double top_p) {
  // Scaled in double after subtracting the largest: <= 0 at any temperature (a float32
  // logits / temperature overflowed to inf, and inf - inf to NaN, for small temperatures).
  const double top = *std::max_element(z.begin(), z.end());
  for (auto& v : z) v = (v - top) / temperature;
  if (top_k > 0 && top_k < (int64_t)z.size()) {
    std::vector<double> sorted = z;
    std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<>());
    const double kth = sorted[top_k - 1];
    for (auto& v : z)
      if (v < kth) v = -INFINITY;
  }
  const double m = *std::max_element(z.begin(), z.end());
  double total = 0;
  for (auto& v : z) total += (v = std::exp(v - m));
  if (top_p < 1) {  // the most likely tokens until their share reaches top_p; ties by id
    std::vector<size_t> order(z.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return z[a] > z[b]; });
    double kept = 0;
    size_t n = 0;
    while (n < order.size() && kept < top_p * total) kept += z[order[n++]];
    for (; n < order.size(); ++n) z[order[n]] = 0;
  }
  return z;
}

std::string unescape_stop(const std::string& typed) {
  std::string out;
  for (size_t i = 0; i < typed.size(); ++i) {
    if (typed[i] != '\\') {
      out += typed[i];
      continue;
    }
    const char next = i + 1 < typed.size() ? typed[i + 1] : '\0';
    const std::string known = "ntr\\";
    if (next == '\0' || known.find(next) == std::string::npos)
      fail("sample", "--stop '", typed, "': unknown escape at character ", i + 1,
           " (known: \\n, \\t, \\r, \\\\)");
    out += next == 'n' ? '\n' : next == 't' ? '\t' : next == 'r' ? '\r' : '\\';
    ++i;
  }
  return out;
}

namespace {
void check_sample_options(const SampleOptions& o) {
  if (!(o.temperature > 0) || !std::isfinite(o.temperature))
    fail("sample", "--temperature must be finite and > 0, got ", o.temperature);
  if (o.tokens < 1 || o.tokens > 1000000)
    fail("sample", "--tokens must be in [1, 10^6], got ", o.tokens);
  if (o.top_k < 0) fail("sample", "--top-k must be >= 0, got ", o.top_k);
  if (!(o.top_p > 0 && o.top_p <= 1)) fail("sample", "--top-p must be in (0, 1], got ", o.top_p);
}

// The logits of the token after `ids`. With a cache and while the text fits block_size: the
// rows of the tokens the cache has not seen (the newest, or the whole prompt at first).
// Otherwise one forward pass of the last block_size tokens: the position embeddings are
// absolute, so a cropped window shares no keys or values with the previous one.
Tensor next_logits(nn::GPT& model, const std::vector<int64_t>& ids, nn::KVCache* cache, Sample& s) {
  const Device dev = model.parameters().front().device();
  const int64_t n = (int64_t)ids.size(), T = model.config().block_size;
  if (cache && n <= T) {
    const int64_t past = cache->length(), fresh = n - past;
    const std::vector<int64_t> rows(ids.begin() + past, ids.end());
    if (past > 0) ++s.from_cache;
    return model.forward_cached(from_vector(rows, {1, fresh}).to(dev), *cache)
        .select(1, fresh - 1)
        .reshape({-1});
  }
  const int64_t len = std::min(T, n);
  std::vector<int64_t> ctx(ids.end() - len, ids.end());
  return model(from_vector(ctx, {1, len}).to(dev)).select(1, len - 1).reshape({-1});
}

// Whether the newest token completed `stop`: every token decodes to at least one byte, so a
// stop of n bytes that ends in the newest token starts within the last n tokens.
bool ends_at_stop(const Tokenizer& tok, const std::vector<int64_t>& ids, size_t generated_from,
                  const std::string& stop) {
  const size_t tail = std::min(stop.size(), ids.size() - generated_from);
  return tok.decode(std::vector<int64_t>(ids.end() - (int64_t)tail, ids.end())).find(stop) !=
         std::string::npos;
}
}  // namespace

Sample sample_text(nn::GPT& model, const Tokenizer& tok, const SampleOptions& o, Generator& gen) {
  check_sample_options(o);
  std::vector<int64_t> ids =
      o.prompt.empty() ? std::vector<int64_t>{tok.start_token()} : tok.encode(o.prompt);
  const size_t start = o.prompt.empty() ? 1 : 0, generated_from = ids.size();
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();  // no dropout, and no draws from the run's dropout generator
  nn::KVCache cache;
  Sample s;
  for (int64_t i = 0; i < o.tokens && !s.stopped; ++i) {
    const std::vector<double> z =
        next_logits(model, ids, o.kv_cache ? &cache : nullptr, s).to_vector();
    const auto bad = std::find_if(z.begin(), z.end(), [](double v) { return !std::isfinite(v); });
    if (bad != z.end())
      fail("sample", "the logits of generated token ", i + 1, " are not finite (token id ",
           bad - z.begin(), ": ", non_finite_text(*bad), "; ", largest_parameter(model),
           "): no token can be drawn from them");
    const std::vector<double> w = sampling_weights(z, o.temperature, o.top_k, o.top_p);
    double total = 0;
    for (double v : w) total += v;
    double u = gen.uniform() * total, acc = 0;
    int64_t pick = (int64_t)w.size() - 1;
    for (size_t k = 0; k < w.size(); ++k)
      if ((acc += w[k]) > u) {
        pick = (int64_t)k;
        break;
      }
    ids.push_back(pick);
    ++s.tokens;
    s.stopped = !o.stop.empty() && ends_at_stop(tok, ids, generated_from, o.stop);
  }
  if (was_training) model.train();
  const std::string prompt_text =
      tok.decode(std::vector<int64_t>(ids.begin() + start, ids.begin() + generated_from));
  s.text = tok.decode(std::vector<int64_t>(ids.begin() + start, ids.end()));
  if (s.stopped)  // the text ends with the stop (the last token may run past it)
    s.text.resize(s.text.find(o.stop, prompt_text.size()) + o.stop.size());
  return s;
}

std::vector<Sample> sample_command(const std::string& ckpt, const SampleOptions& o) {
  check_sample_options(o);
  if (o.num_samples < 1 || o.num_samples > 100000)
    fail("sample", "--num-samples must be in [1, 10^5], got ", o.num_samples);
  Loaded l = load(ckpt, o.device);
  std::vector<Sample> out;
  const auto t0 = std::chrono::steady_clock::now();
  int64_t tokens = 0, cached = 0;
  for (int64_t i = 0; i < o.num_samples; ++i) {
    Generator gen(o.seed + (uint64_t)i);
    out.push_back(sample_text(*l.model, l.tok, o, gen));
    tokens += out.back().tokens, cached += out.back().from_cache;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "sample: %lld tokens in %.2f s (%.1f tokens/s; ", (long long)tokens, s,
               (double)tokens / s);
  if (o.kv_cache)
    std::fprintf(stderr,
                 "KV cache: %lld tokens took one row each, %lld a pass over their context: "
                 "the prompt, and those past block_size %lld)\n",
                 (long long)cached, (long long)(tokens - cached), (long long)l.cfg.block_size);
  else
    std::fprintf(stderr, "no KV cache: every token ran its whole context)\n");
  return out;
}

void grads_command(const std::string& ckpt, const GradsOptions& o) {
  Loaded l = load(ckpt, o.device);
  const RunData corpus = load_run_data(o.data.empty() ? l.cfg.data : o.data, l.tok);
  // Default: the sequences of one optimizer step (all --grad-accum micro-batches as one
  // batch: the same gradient up to summation order), so --step replays the run's draws.
  const int64_t batch = o.batch > 0 ? o.batch : l.cfg.batch * l.cfg.grad_accum;
  TrainConfig with_batch = l.cfg;  // --batch gets the bounds and the memory check of train
  with_batch.batch = batch;
  with_batch.validate();
  check_fits_memory(with_batch, l.tok.size(), "grads --batch");
  const int64_t at = l.step;
  // The training batcher: its generator starts from seed + 1, as in train().
  Batcher b(corpus.ids, l.cfg.block_size, o.seed ? *o.seed : l.cfg.seed + 1);
  std::string which;
  if (o.seed) {
    which = "an independent batch from seed " + std::to_string(*o.seed);
  } else if (o.step > 0) {
    if (o.step - 1 > kMaxReplayedOffsets / batch)
      fail("grads", "--step ", o.step, " would replay the ", o.step - 1,
           " training batches before it (", batch, " offsets each); the limit is ",
           kMaxReplayedOffsets, " offsets: --step <= ", kMaxReplayedOffsets / batch + 1,
           " at batch ", batch, " (this run trains ", l.cfg.max_steps,
           " steps; --seed draws an independent batch)");
    b.skip(o.step - 1, batch);
    which = "training batch of step " + std::to_string(o.step);
    if (o.step != at + 1)
      which += " (the weights are from step " + std::to_string(at) + ", not " +
               std::to_string(o.step - 1) + ": not the gradient training computed)";
  } else {
    if (!l.meta.count("data_rng")) fail("grads", ckpt, " has no data_rng: use --step or --seed");
    b.generator().set_state(l.meta.at("data_rng"));
    if (l.meta.count("dropout_rng"))
      l.model->dropout_generator().set_state(l.meta.at("dropout_rng"));
    which = "training batch of step " + std::to_string(at + 1) + " (the next step)";
  }
  auto [x, y] = b.batch(batch, false);  // host ids: saved as they are
  l.model->train();  // same mode as training (dropout draws from the model's seeded generator)
  Tensor loss = l.model->loss(x.to(l.dev), y.to(l.dev));
  const double loss_value = loss.item();
  if (!std::isfinite(loss_value))  // no gradients of a NaN loss written as if they were some
    fail("grads", ckpt, ": the loss of the ", which, " is ", non_finite_text(loss_value),
         ": the model's output is not finite; ", non_finite_logits(*l.model, x.to(l.dev)));
  loss.backward();
  if (const std::string bad = first_non_finite_gradient(l.model->named_parameters()); !bad.empty())
    fail("grads", ckpt, ": the loss of the ", which, " is finite (", loss_value,
         ") but not every gradient is: first non-finite gradient in ", bad);
  nn::StateDict sd{{"loss", loss.detach()}, {"input_ids", x}, {"target_ids", y}};
  std::printf("%s\nloss %.6f\n%-48s %14s %14s\n", which.c_str(), loss_value, "parameter", "|grad|",
              "|param|");
  for (auto& [n, p] : l.model->named_parameters()) {
    sd["grad." + n] = p.grad();
    std::printf("%-48s %14.6e %14.6e\n", n.c_str(), p.grad().norm().item(), p.norm().item());
  }
  nn::save_safetensors(o.out, sd,
                       {{"checkpoint", ckpt},
                        {"batch_source", which},
                        {"checkpoint_step", std::to_string(at)},
                        {"batch", std::to_string(batch)}});
  std::printf("wrote loss and %zu gradients to %s\n", sd.size() - 3, o.out.c_str());
}

}  // namespace ngcli
