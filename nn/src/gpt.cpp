#include "normgrad/nn/gpt.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "normgrad/autograd.h"
#include "normgrad/ops.h"

namespace ng::nn {

namespace {
// A weight's init std; 0 (zeros, nothing drawn) when the weights are about to be loaded.
double std_of(const GPTConfig& c, double std) { return c.init_weights ? std : 0.0; }
}  // namespace

namespace {
enum class Position { Attn, Mlp, Final };

// The norm for one position, with the DyT LLM recipe's alpha0 and the kind options set for
// this position when given.
std::shared_ptr<Norm> position_norm(const GPTConfig& c, const std::string& kind, Position at) {
  NormOptions o = c.norm_options;
  const auto& a0 = at == Position::Attn ? c.alpha0_attn : c.alpha0_other;
  if (a0) o.alpha0 = *a0;
  const auto& here = at == Position::Attn  ? c.attn_options
                     : at == Position::Mlp ? c.mlp_options
                                           : c.final_options;
  for (const auto& [name, v] : here) o.set(name, v);
  return make_norm(kind.empty() ? c.norm : kind, c.n_embd, o);
}

// [T, past + T]: row i is the token at position past + i; 1 where a key is in its future
// (what masked_fill hides), 0 elsewhere. past 0: the square mask of a whole sequence.
Tensor causal_mask(int64_t T, DType dt, Device dev, int64_t past = 0) {
  const int64_t S = past + T;
  std::vector<double> m(T * S, 0.0);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = past + i + 1; j < S; ++j) m[i * S + j] = 1.0;
  return from_vector(m, {T, S}, {.dtype = dt, .device = dev});
}
}  // namespace

CausalSelfAttention::CausalSelfAttention(const GPTConfig& c, Generator& gen,
                                         std::shared_ptr<Generator> drop)
    : n_head_(c.n_head) {
  if (c.n_embd % c.n_head != 0)
    fail("GPT", "n_embd ", c.n_embd, " is not divisible by n_head ", c.n_head);
  c_attn = register_module(
      "c_attn", std::make_shared<Linear>(c.n_embd, 3 * c.n_embd, c.bias, gen, std_of(c, 0.02)));
  c_proj = register_module("c_proj",
                           std::make_shared<Linear>(c.n_embd, c.n_embd, c.bias, gen,
                                                    std_of(c, 0.02 / std::sqrt(2.0 * c.n_layer))));
  attn_drop_ = register_module("attn_dropout", std::make_shared<Dropout>(c.dropout, drop));
  resid_drop_ = register_module("resid_dropout", std::make_shared<Dropout>(c.dropout, drop));
}

Tensor CausalSelfAttention::forward(const Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2), H = n_head_, D = C / H;
  const Tensor qkv = (*c_attn)(x);  // [B, T, 3C]: q, k, v side by side
  if (!attn_drop_->active())        // the fused kernel (no dropout on the attention weights)
    return (*resid_drop_)((*c_proj)(causal_self_attention(qkv, H)));
  const TensorList parts = split(qkv, C, 2);  // 3 x [B, T, C], views
  auto heads = [&](const Tensor& t) { return t.view({B, T, H, D}).transpose(1, 2); };  // [B,H,T,D]
  const Tensor q = heads(parts[0]), k = heads(parts[1]), v = heads(parts[2]);
  Tensor att = matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt((double)D));  // [B,H,T,T]
  if (!mask_.defined() || mask_.size(0) != T || mask_.dtype() != x.dtype() ||
      mask_.device() != x.device())
    mask_ = causal_mask(T, x.dtype(), x.device());
  att = masked_fill(att, mask_, -INFINITY);
  att = (*attn_drop_)(softmax(att, -1));
  const Tensor y = matmul(att, v).transpose(1, 2).reshape({B, T, C});
  return (*resid_drop_)((*c_proj)(y));
}

Tensor CausalSelfAttention::forward_cached(const Tensor& x, Tensor& k_all, Tensor& v_all,
                                           int64_t past, int64_t capacity) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2), H = n_head_, D = C / H;
  const Tensor qkv = (*c_attn)(x);
  const TensorList parts = split(qkv, C, 2);
  auto heads = [&](const Tensor& t) { return t.view({B, T, H, D}).transpose(1, 2); };  // [B,H,T,D]
  if (!k_all.defined()) {
    const TensorOptions o{.dtype = qkv.dtype(), .device = qkv.device()};
    k_all = zeros({B, H, capacity, D}, o);
    v_all = zeros({B, H, capacity, D}, o);
  }
  k_all.narrow(2, past, T).copy_(heads(parts[1]));
  v_all.narrow(2, past, T).copy_(heads(parts[2]));
  // Nothing cached before: the whole-sequence kernel, so a prompt's logits are forward()'s.
  if (past == 0) return (*c_proj)(causal_self_attention(qkv, H));
  const Tensor k = k_all.narrow(2, 0, past + T), v = v_all.narrow(2, 0, past + T);
  Tensor att = matmul(heads(parts[0]), k.transpose(-2, -1)) * (1.0 / std::sqrt((double)D));
  if (T > 1) att = masked_fill(att, causal_mask(T, x.dtype(), x.device(), past), -INFINITY);
  const Tensor y = matmul(softmax(att, -1), v).transpose(1, 2).reshape({B, T, C});
  return (*c_proj)(y);
}

MLP::MLP(const GPTConfig& c, Generator& gen, std::shared_ptr<Generator> drop) {
  c_fc = register_module(
      "c_fc", std::make_shared<Linear>(c.n_embd, 4 * c.n_embd, c.bias, gen, std_of(c, 0.02)));
  if (c.gelu != "exact" && c.gelu != "tanh")
    fail("GPT", "gelu must be exact or tanh, got '", c.gelu, "'");
  gelu_ = register_module(
      "gelu", std::make_shared<GELU>(c.gelu == "tanh" ? GeluApprox::Tanh : GeluApprox::None));
  c_proj = register_module("c_proj",
                           std::make_shared<Linear>(4 * c.n_embd, c.n_embd, c.bias, gen,
                                                    std_of(c, 0.02 / std::sqrt(2.0 * c.n_layer))));
  drop_ = register_module("dropout", std::make_shared<Dropout>(c.dropout, drop));
}

Tensor MLP::forward(const Tensor& x) { return (*drop_)((*c_proj)((*gelu_)((*c_fc)(x)))); }

Block::Block(const GPTConfig& c, Generator& gen, std::shared_ptr<Generator> drop) {
  ln_1 = register_module("ln_1", position_norm(c, c.norm_attn, Position::Attn));
  attn = register_module("attn", std::make_shared<CausalSelfAttention>(c, gen, drop));
  ln_2 = register_module("ln_2", position_norm(c, c.norm_mlp, Position::Mlp));
  mlp = register_module("mlp", std::make_shared<MLP>(c, gen, drop));
}

Tensor Block::forward(const Tensor& x) {
  Tensor h = x + (*attn)((*ln_1)(x));
  return h + (*mlp)((*ln_2)(h));
}

Tensor Block::forward_cached(const Tensor& x, Tensor& k_all, Tensor& v_all, int64_t past,
                             int64_t capacity) {
  Tensor h = x + attn->forward_cached((*ln_1)(x), k_all, v_all, past, capacity);
  return h + (*mlp)((*ln_2)(h));
}

GPT::GPT(GPTConfig c) : cfg_(std::move(c)) {
  if (cfg_.vocab <= 0 || cfg_.n_layer <= 0 || cfg_.n_head <= 0 || cfg_.n_embd <= 0 ||
      cfg_.block_size <= 0)
    fail("GPT", "sizes must be positive: vocab ", cfg_.vocab, ", n_layer ", cfg_.n_layer,
         ", n_head ", cfg_.n_head, ", n_embd ", cfg_.n_embd, ", block_size ", cfg_.block_size);
  Generator gen(cfg_.seed);  // parameters are created, and so drawn, in a fixed order
  drop_gen_ = std::make_shared<Generator>(cfg_.seed ^ 0x9e3779b97f4a7c15ULL);
  auto tr = register_module("transformer", std::make_shared<Container>());
  wte_ =
      tr->add("wte", std::make_shared<Embedding>(cfg_.vocab, cfg_.n_embd, gen, std_of(cfg_, 0.02)));
  wpe_ = tr->add(
      "wpe", std::make_shared<Embedding>(cfg_.block_size, cfg_.n_embd, gen, std_of(cfg_, 0.02)));
  drop_ = tr->add("drop", std::make_shared<Dropout>(cfg_.dropout, drop_gen_));
  auto h = tr->add("h", std::make_shared<Container>());
  for (int64_t i = 0; i < cfg_.n_layer; ++i)
    blocks_.push_back(h->add(std::to_string(i), std::make_shared<Block>(cfg_, gen, drop_gen_)));
  ln_f = tr->add("ln_f", position_norm(cfg_, cfg_.norm_final, Position::Final));
  if (cfg_.embed_scale)
    embed_scale_ = register_parameter("embed_scale", full({}, std::sqrt((double)cfg_.n_embd)));
}

namespace {
void check_token_ids(const Tensor& idx, int64_t past, int64_t block_size) {
  if (idx.dtype() != DType::I64 || idx.dim() != 2)
    fail("GPT", "expects int64 token ids of shape [B, T], got ", dtype_name(idx.dtype()), " ",
         shape_str(idx.shape()));
  if (past + idx.size(1) > block_size)
    fail("GPT", "sequence length ", past + idx.size(1),
         past > 0 ? " (" + std::to_string(past) + " cached + " + std::to_string(idx.size(1)) +
                        " new tokens)"
                  : std::string(),
         " exceeds block_size ", block_size);
}
}  // namespace

Tensor GPT::forward(const Tensor& idx) {
  check_token_ids(idx, 0, cfg_.block_size);
  const int64_t T = idx.size(1);
  Tensor tok = (*wte_)(idx);  // [B, T, C]
  if (embed_scale_.defined()) tok = tok * embed_scale_;
  Tensor x = (*drop_)(tok + (*wpe_)(arange(T, {.dtype = DType::I64, .device = idx.device()})));
  for (auto& b : blocks_) x = (*b)(x);
  x = (*ln_f)(x);
  return matmul(x, wte_->weight.t());  // tied LM head
}

Tensor GPT::forward_cached(const Tensor& idx, KVCache& cache) {
  const int64_t past = cache.length_;
  check_token_ids(idx, past, cfg_.block_size);
  if (is_training() && cfg_.dropout > 0)
    fail("GPT", "forward_cached is inference only: call eval() first (dropout ", cfg_.dropout,
         " would draw)");
  if (past > 0 && (cache.k_.size() != blocks_.size() || cache.k_[0].size(0) != idx.size(0)))
    fail("GPT", "forward_cached: the cache holds ", cache.k_.size(), " blocks of ",
         cache.k_.empty() ? 0 : cache.k_[0].size(0), " sequences; this model has ", blocks_.size(),
         " blocks and the new tokens ", idx.size(0), " sequences");
  NoGradGuard no_grad;
  cache.k_.resize(blocks_.size());
  cache.v_.resize(blocks_.size());
  const int64_t T = idx.size(1);
  Tensor x = (*wte_)(idx);
  if (embed_scale_.defined()) x = x * embed_scale_;
  const TensorOptions positions{.dtype = DType::I64, .device = idx.device()};
  x = x + (*wpe_)(arange((double)past, (double)(past + T), 1.0, positions));
  for (size_t i = 0; i < blocks_.size(); ++i)
    x = blocks_[i]->forward_cached(x, cache.k_[i], cache.v_[i], past, cfg_.block_size);
  cache.length_ = past + T;
  return matmul((*ln_f)(x), wte_->weight.t());
}

Tensor GPT::loss(const Tensor& idx, const Tensor& targets) {
  const Tensor logits = forward(idx);
  return cross_entropy(logits.reshape({-1, cfg_.vocab}), targets.reshape({-1}));
}

std::vector<std::string> fold_tapered_norms(GPT& model) {
  NoGradGuard no_grad;
  std::vector<std::string> folded;
  auto fold = [&](Norm& norm, Linear& next, const std::string& name) {
    if (norm.kind() != "tapernorm") return;
    std::map<std::string, Tensor> t;
    for (auto& [n, p] : norm.named_parameters()) t[n] = p;
    for (auto& [n, b] : norm.named_buffers()) t[n] = b;
    if (t.at("gate").item() != 0.0) return;  // still tapering: not a linear map yet
    const Tensor d = t.at("weight_lin") * t.at("c").reshape({});  // [C]
    Tensor(next.weight).copy_(next.weight * d);                   // scales W's columns
    Tensor(t.at("weight_lin")).fill_(1.0);
    Tensor(t.at("c")).fill_(1.0);
    folded.push_back(name);
  };
  for (size_t i = 0; i < model.blocks().size(); ++i) {
    Block& b = *model.blocks()[i];
    const std::string h = "transformer.h." + std::to_string(i);
    fold(*b.ln_1, *b.attn->c_attn, h + ".ln_1");
    fold(*b.ln_2, *b.mlp->c_fc, h + ".ln_2");
  }
  return folded;
}

std::vector<std::string> norm_positions(const GPT& model) {
  std::vector<std::string> out;
  for (size_t i = 0; i < model.blocks().size(); ++i)
    for (const char* which : {"ln_1", "ln_2"})
      out.push_back("transformer.h." + std::to_string(i) + "." + which);
  out.push_back("transformer.ln_f");
  return out;
}

namespace {
// position -> (block index or -1 for ln_f, "ln_1" / "ln_2" / "ln_f")
std::pair<int64_t, std::string> parse_position(const GPT& model, const std::string& position) {
  const auto all = norm_positions(model);
  if (std::find(all.begin(), all.end(), position) == all.end())
    fail("replace_norm", "no norm at '", position, "' (positions: transformer.h.<i>.ln_1, ",
         "transformer.h.<i>.ln_2 for i < ", model.blocks().size(), ", transformer.ln_f)");
  if (position == "transformer.ln_f") return {-1, "ln_f"};
  const size_t dot = position.rfind('.');
  return {std::stoll(position.substr(14, dot - 14)), position.substr(dot + 1)};
}
}  // namespace

std::shared_ptr<Norm> norm_at(const GPT& model, const std::string& position) {
  const auto [block, which] = parse_position(model, position);
  if (block < 0) return model.ln_f;
  const auto& b = model.blocks()[(size_t)block];
  return which == "ln_1" ? b->ln_1 : b->ln_2;
}

void replace_norm(GPT& model, const std::string& position, std::shared_ptr<Norm> norm) {
  if (!norm || norm->channels() != model.config().n_embd)
    fail("replace_norm", "the new norm must have ", model.config().n_embd, " channels");
  const auto [block, which] = parse_position(model, position);
  if (block < 0) {
    for (auto& [name, m] : model.named_modules())
      if (name == "transformer") m->replace_child("ln_f", norm);
    model.ln_f = norm;
    return;
  }
  Block& b = *model.blocks()[(size_t)block];
  b.replace_child(which, norm);
  (which == "ln_1" ? b.ln_1 : b.ln_2) = norm;
}

}  // namespace ng::nn
