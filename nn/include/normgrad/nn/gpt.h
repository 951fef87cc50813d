// A GPT in nanoGPT's shape and naming, with each normalization position a choice.
//
// Parameter names: transformer.wte.weight, transformer.wpe.weight,
// transformer.h.{i}.ln_1.*, .attn.c_attn.{weight,bias}, .attn.c_proj.*, .ln_2.*,
// .mlp.c_fc.*, .mlp.c_proj.*, transformer.ln_f.*; the LM head is tied to wte.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "normgrad/nn/layers.h"
#include "normgrad/nn/norm.h"

namespace ng::nn {

struct GPTConfig {
  int64_t vocab = 65, n_layer = 4, n_head = 4, n_embd = 128, block_size = 64;
  double dropout = 0.0;
  bool bias = true;
  std::string gelu = "exact";      // the MLP's GELU: exact (erf) or tanh (GPT-2's "gelu_new")
  std::string norm = "layernorm";  // every position, unless overridden below
  std::string norm_attn, norm_mlp, norm_final;  // ln_1, ln_2, ln_f overrides ("" = norm)
  NormOptions norm_options;
  // The DyT LLM recipe: separate alpha0 for the attention-position norm and the others.
  std::optional<double> alpha0_attn, alpha0_other;
  // Kind-declared options (NormOptionSpec::per_position) set at one position only: ln_1,
  // ln_2, ln_f (over norm_options.extra).
  std::map<std::string, double> attn_options, mlp_options, final_options;
  bool embed_scale = false;  // learnable scalar after the token embedding, init sqrt(n_embd)
  uint64_t seed = 1337;      // every random number of init and dropout comes from it
  // false: Linear and Embedding weights start at zero, nothing drawn: for a model whose
  // weights are loaded next (4 s of GPT-2 small's 8 s load went into drawing them).
  bool init_weights = true;
};

// Keys and values of every block for the tokens a generation has seen so far, so that
// GPT::forward_cached computes only the new tokens' rows. Each block's k and v are
// [B, n_head, block_size, head_dim], filled up to length(); allocated at the first call.
// The position embeddings are absolute: a text longer than block_size has no cache that
// holds (cropping the window moves every token's position), so it ends at block_size.
class KVCache {
 public:
  int64_t length() const { return length_; }
  void clear() { *this = KVCache(); }

 private:
  friend class GPT;
  std::vector<Tensor> k_, v_;  // one per block
  int64_t length_ = 0;
};

// Multi-head causal self-attention: c_attn (q, k, v), fused attention, c_proj.
class CausalSelfAttention : public Module {
 public:
  CausalSelfAttention(const GPTConfig& c, Generator& gen, std::shared_ptr<Generator> drop);
  Tensor forward(const Tensor& x) override;
  // x [B, T, C] holds the tokens at positions past .. past + T - 1: their keys and values go
  // into k_all, v_all ([B, H, capacity, D], allocated when undefined) and they attend to
  // every cached position before them. Inference only (no dropout; no graph is kept).
  Tensor forward_cached(const Tensor& x, Tensor& k_all, Tensor& v_all, int64_t past,
                        int64_t capacity);
  std::shared_ptr<Linear> c_attn, c_proj;

 private:
  int64_t n_head_;
  std::shared_ptr<Dropout> attn_drop_, resid_drop_;
  Tensor mask_;  // causal mask of the last (T, dtype, device) seen; rebuilt when they change
};

// c_fc (4C), GELU (exact or tanh), c_proj.
class MLP : public Module {
 public:
  MLP(const GPTConfig& c, Generator& gen, std::shared_ptr<Generator> drop);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Linear> c_fc, c_proj;

 private:
  std::shared_ptr<GELU> gelu_;
  std::shared_ptr<Dropout> drop_;
};

// One pre-norm Transformer block: x + attn(ln_1(x)), then + mlp(ln_2(.)).
class Block : public Module {
 public:
  Block(const GPTConfig& c, Generator& gen, std::shared_ptr<Generator> drop);
  Tensor forward(const Tensor& x) override;  // pre-norm residual block
  // The same with the attention over cached keys and values (CausalSelfAttention's).
  Tensor forward_cached(const Tensor& x, Tensor& k_all, Tensor& v_all, int64_t past,
                        int64_t capacity);
  std::shared_ptr<Norm> ln_1, ln_2;
  std::shared_ptr<CausalSelfAttention> attn;
  std::shared_ptr<MLP> mlp;
};

// nanoGPT's GPT: token + position embeddings, blocks, ln_f, LM head tied to wte.
class GPT : public Module {
 public:
  explicit GPT(GPTConfig c);
  Tensor forward(const Tensor& idx) override;             // [B, T] int64 -> [B, T, vocab]
  Tensor loss(const Tensor& idx, const Tensor& targets);  // mean cross-entropy
  // Logits [B, T, vocab] of the T new tokens `idx` [B, T] that follow the cache's tokens,
  // whose keys and values it reuses; theirs are added to it. The same function as forward()
  // of the whole text (to float rounding; bit for bit when the cache starts empty), for
  // every norm kind: norms act on each token alone. Inference: no autograd graph, and the
  // model must not be training with dropout. The cache's tokens plus T must fit block_size.
  Tensor forward_cached(const Tensor& idx, KVCache& cache);
  const GPTConfig& config() const { return cfg_; }
  const std::vector<std::shared_ptr<Block>>& blocks() const { return blocks_; }
  // The generator behind every dropout: save its state() to resume bit for bit.
  Generator& dropout_generator() { return *drop_gen_; }
  std::shared_ptr<Norm> ln_f;

 private:
  GPTConfig cfg_;
  std::shared_ptr<Generator> drop_gen_;
  std::shared_ptr<Embedding> wte_, wpe_;
  std::vector<std::shared_ptr<Block>> blocks_;
  std::shared_ptr<Dropout> drop_;
  Tensor embed_scale_;
};

// Folds every fully tapered internal TaperNorm (gate 0: y = c * weight_lin * x) into the
// Linear it feeds (ln_1 -> attn.c_attn, ln_2 -> mlp.c_fc: W <- W diag(c * weight_lin)) and
// leaves the norm an exact identity (weight_lin = 1, c = 1). The model computes the same
// function (to float rounding). ln_f feeds the LM head tied to the embedding and is never
// folded. Returns the names of the folded layers.
std::vector<std::string> fold_tapered_norms(GPT& model);

// The names of the model's norm layers in forward order: transformer.h.0.ln_1,
// transformer.h.0.ln_2, ..., transformer.ln_f.
std::vector<std::string> norm_positions(const GPT& model);
// The norm layer at `position` (one of norm_positions()).
std::shared_ptr<Norm> norm_at(const GPT& model, const std::string& position);
// Puts `norm` (of the model's width) in place of the layer at `position`; its parameters
// are then the model's under that position's names (norm surgery).
void replace_norm(GPT& model, const std::string& position, std::shared_ptr<Norm> norm);

}  // namespace ng::nn
