// Modules, layers, norms as modules, the GPT: names, init, gradcheck, no dropped gradients,
// hooks, state dicts, and a tiny GPT overfitting one batch with every norm kind.
#include <nlohmann/json.hpp>

#include "helpers.h"
#include "normgrad/nn.h"
#include "normgrad/optim.h"

using namespace ngt;
using namespace ng::nn;

namespace {
GPTConfig tiny(const std::string& norm) {
  return {.vocab = 11,
          .n_layer = 2,
          .n_head = 2,
          .n_embd = 16,
          .block_size = 8,
          .norm = norm,
          .seed = 7};
}
Tensor tokens(const Shape& s, int64_t vocab, uint64_t seed) {
  Generator g(seed);
  return randint(0, vocab, s, {.dtype = DType::I64}, &g);
}
// Every registered kind: a kind added as one file is covered by these tests at once.
const std::vector<std::string> kKinds = norm_kinds();
}  // namespace

TEST_SUITE("nn") {
  TEST_CASE("GPT parameter names and shapes follow nanoGPT; LM head is tied") {
    GPT m(tiny("layernorm"));
    std::map<std::string, Shape> got;
    for (auto& [n, p] : m.named_parameters()) got[n] = p.shape();
    CHECK(got.at("transformer.wte.weight") == Shape{11, 16});
    CHECK(got.at("transformer.wpe.weight") == Shape{8, 16});
    CHECK(got.at("transformer.h.0.ln_1.weight") == Shape{16});
    CHECK(got.at("transformer.h.0.ln_1.bias") == Shape{16});
    CHECK(got.at("transformer.h.1.attn.c_attn.weight") == Shape{48, 16});
    CHECK(got.at("transformer.h.1.attn.c_proj.bias") == Shape{16});
    CHECK(got.at("transformer.h.0.mlp.c_fc.weight") == Shape{64, 16});
    CHECK(got.at("transformer.h.0.mlp.c_proj.weight") == Shape{16, 64});
    CHECK(got.at("transformer.ln_f.weight") == Shape{16});
    CHECK(got.count("lm_head.weight") == 0);
    // 11*16 + 8*16 + 2 * (4*16 + 48*16+48 + 16*16+16 + 64*16+64 + 16*64+16) + 2*16
    CHECK(m.num_parameters() == 176 + 128 + 2 * (64 + 816 + 272 + 1088 + 1040) + 32);
  }

  TEST_CASE("per-position norms, the DyT LLM recipe, the embedding scalar") {
    GPTConfig c = tiny("layernorm");
    c.norm_attn = "dyt";
    c.norm_mlp = "rmsnorm";
    c.norm_final = "dyisru";
    c.alpha0_attn = 0.8;
    c.alpha0_other = 0.2;
    c.embed_scale = true;
    GPT m(c);
    CHECK(m.blocks()[0]->ln_1->kind() == "dyt");
    CHECK(m.blocks()[0]->ln_2->kind() == "rmsnorm");
    CHECK(m.ln_f->kind() == "dyisru");
    CHECK(m.blocks()[1]->ln_1->scalars().at("alpha") == doctest::Approx(0.8));
    CHECK(m.ln_f->scalars().at("beta") == doctest::Approx(1 / (0.2 * 0.2)));  // beta0 = 1/alpha0^2
    auto sd = m.state_dict();
    CHECK(sd.at("embed_scale").item() == doctest::Approx(4.0));
    CHECK(sd.count("transformer.ln_f.beta_raw") == 1);
    CHECK(sd.count("transformer.h.0.ln_2.bias") == 0);  // RMSNorm has no bias
  }

  TEST_CASE("initialisation: one seed, bit-reproducible; GPT-2 scales") {
    GPT a(tiny("dyt")), b(tiny("dyt"));
    auto pa = a.named_parameters(), pb = b.named_parameters();
    for (size_t i = 0; i < pa.size(); ++i)
      CHECK(pa[i].second.to_vector() == pb[i].second.to_vector());
    GPTConfig c = tiny("dyt");
    c.seed = 8;
    CHECK(GPT(c).named_parameters()[0].second.to_vector() != pa[0].second.to_vector());
    GPTConfig big = {.vocab = 64, .n_layer = 4, .n_embd = 64, .block_size = 64};
    GPT g(big);
    auto sd = g.state_dict();
    const double s_fc =
        std::sqrt(var(sd.at("transformer.h.0.mlp.c_fc.weight").to(DType::F64)).item());
    const double s_proj =
        std::sqrt(var(sd.at("transformer.h.0.mlp.c_proj.weight").to(DType::F64)).item());
    CHECK(s_fc == doctest::Approx(0.02).epsilon(0.05));
    CHECK(s_proj == doctest::Approx(0.02 / std::sqrt(8.0)).epsilon(0.05));
    CHECK(sum(abs(sd.at("transformer.h.0.attn.c_attn.bias"))).item() == 0);
  }

  TEST_CASE("every built-in kind is registered") {
    for (const char* k : {"layernorm", "rmsnorm", "dyt", "dyisru", "derf", "bhyt", "none"})
      CHECK(std::find(kKinds.begin(), kKinds.end(), k) != kKinds.end());
  }

  TEST_CASE("every norm module: fused == composed, gradcheck w.r.t. input and parameters") {
    for (const auto& kind : kKinds)
      for (bool paper : {false, true}) {
        CAPTURE(kind);
        CAPTURE(paper);
        auto norm = make_norm(kind, 5, {.scale = paper ? "sqrtc" : "one"});
        norm->to(DType::F64);
        Tensor x = input({3, 5}, 21, -2, 2);
        CHECK(allclose((*norm)(x), norm->forward_composed(x), 1e-12, 1e-12));
        TensorList in{x};
        for (auto& p : norm->parameters()) in.push_back(p);
        expect_grad([&](const TensorList&) { return (*norm)(x); }, in, /*second_order=*/true);
      }
  }

  TEST_CASE("layers gradcheck in float64: Linear, Embedding, MLP, attention, Block") {
    GPTConfig c = {.vocab = 5, .n_layer = 1, .n_head = 2, .n_embd = 4, .block_size = 3, .seed = 3};
    Generator g(1);
    auto drop = std::make_shared<Generator>(2);
    auto check_module = [&](Module& m, const Tensor& x, bool x_grad) {
      m.to(DType::F64);
      TensorList in;
      if (x_grad) in.push_back(x);
      for (auto& p : m.parameters()) in.push_back(p);
      expect_grad([&](const TensorList&) { return m(x); }, in, false);
    };
    Linear lin(4, 3, true, g);
    check_module(lin, input({2, 4}, 1), true);
    Embedding emb(5, 3, g);
    check_module(emb, from_vector(std::vector<int64_t>{4, 0, 4}, {3}), false);
    MLP mlp(c, g, drop);
    check_module(mlp, input({1, 3, 4}, 2), true);
    CausalSelfAttention att(c, g, drop);
    check_module(att, input({2, 3, 4}, 3), true);
    for (const auto& kind : {"layernorm", "dyt", "dyisru"}) {
      GPTConfig ck = c;
      ck.norm = kind;
      Block blk(ck, g, drop);
      check_module(blk, input({1, 3, 4}, 4), true);
    }
  }

  TEST_CASE("the whole GPT: gradcheck of the loss w.r.t. a norm's parameters and the embedding") {
    GPTConfig c = {.vocab = 5,
                   .n_layer = 1,
                   .n_head = 1,
                   .n_embd = 4,
                   .block_size = 3,
                   .norm = "dyt",
                   .seed = 3};
    GPT m(c);
    m.to(DType::F64);
    Tensor idx = tokens({2, 3}, 5, 1), tgt = tokens({2, 3}, 5, 2);
    auto sd = m.named_parameters();
    TensorList in;
    for (auto& [n, p] : sd)
      if (n == "transformer.h.0.ln_1.alpha" || n == "transformer.ln_f.weight" ||
          n == "transformer.wpe.weight")
        in.push_back(p);
    REQUIRE(in.size() == 3);
    expect_grad([&](const TensorList&) { return m.loss(idx, tgt); }, in, false);
  }

  TEST_CASE("no dropped gradients: every parameter of every norm kind and every GPT") {
    for (const auto& kind : kKinds) {
      CAPTURE(kind);
      auto norm = make_norm(kind, 6);
      norm->on_step(250);  // TaperNorm mid-taper, where both of its branches carry gradient
      Tensor x = randn({4, 6}, {.requires_grad = true});
      sum(square((*norm)(x))).backward();
      for (auto& [n, p] : norm->named_parameters()) {
        CAPTURE(n);
        REQUIRE(p.grad().defined());
        const double g = p.grad().norm().item();
        CHECK(std::isfinite(g));
        CHECK(g > 0);
      }
      GPTConfig c = tiny(kind);
      c.embed_scale = true;
      GPT m(c);
      set_norm_step(m, 250);
      m.loss(tokens({2, 8}, 11, 3), tokens({2, 8}, 11, 4)).backward();
      for (auto& [n, p] : m.named_parameters()) {
        CAPTURE(n);
        REQUIRE(p.grad().defined());
        const double g = p.grad().norm().item();
        CHECK(std::isfinite(g));
        CHECK(g > 0);
      }
    }
  }

  TEST_CASE("forward hooks observe inputs and outputs without changing them") {
    GPT m(tiny("rmsnorm"));
    std::vector<std::string> seen;
    int id = m.blocks()[1]->ln_2->register_forward_hook(
        [&](Module& mod, const Tensor& in, const Tensor& out) {
          seen.push_back(static_cast<Norm&>(mod).kind() + shape_str(in.shape()) +
                         shape_str(out.shape()));
        });
    Tensor idx = tokens({2, 5}, 11, 1);
    Tensor with_hook = m(idx);
    m.blocks()[1]->ln_2->remove_forward_hook(id);
    Tensor without = m(idx);
    CHECK(seen == std::vector<std::string>{"rmsnorm[2, 5, 16][2, 5, 16]"});
    CHECK(with_hook.to_vector() == without.to_vector());
  }

  TEST_CASE("state_dict round trip; strict loading names what does not match") {
    GPT a(tiny("dyt"));
    GPTConfig c = tiny("dyt");
    c.seed = 99;
    GPT b(c);
    b.load_state_dict(a.state_dict());
    Tensor idx = tokens({1, 8}, 11, 5);
    CHECK(a(idx).to_vector() == b(idx).to_vector());
    StateDict sd = a.state_dict();
    sd.erase("transformer.ln_f.alpha");
    sd["transformer.extra"] = zeros({1});
    sd["transformer.wpe.weight"] = zeros({9, 16});
    CHECK_THROWS_WITH_AS(
        b.load_state_dict(sd),
        doctest::Contains("missing: transformer.ln_f.alpha; unexpected: transformer.extra; "
                          "mis-shaped: transformer.wpe.weight (checkpoint [9, 16], model [8, 16])"),
        Error);
    auto report = b.load_state_dict(sd, /*strict=*/false);
    CHECK(report.missing.size() == 1);
  }

  TEST_CASE("TaperNorm: gate schedule, EMA calibration at taper_start, zero-gate linear map") {
    NormOptions o;
    o.taper_start = 10, o.taper_steps = 8;
    auto n = make_norm("tapernorm", 5, o);
    std::map<std::string, Tensor> t;
    for (auto& [k, v] : n->named_parameters()) t[k] = v;
    for (auto& [k, v] : n->named_buffers()) t[k] = v;
    CHECK(n->named_buffers().size() == 4);  // gate, c, ema_num, ema_den
    NoGradGuard no_grad;
    Tensor(t.at("weight")).copy_(from_vector(std::vector<double>{0.5, 1, 1.5, 2, 2.5}, {5}));
    Generator g(3);
    double num = 0, den = 0;  // the EMAs, recomputed here
    for (int64_t step = 0; step < 10; ++step) {
      n->on_step(step);
      CHECK(t.at("gate").item() == 1.0);
      const Tensor x = randn({3, 5}, {}, &g) * (1.0 + step);
      (*n)(x);
      const Tensor wx2 = sum(square(x * t.at("weight")), {-1});
      const Tensor r = rsqrt(mean(square(x), {-1}) + 1e-5);
      num = 0.99 * num + 0.01 * sum(r * wx2).item();
      den = 0.99 * den + 0.01 * sum(wx2).item();
    }
    n->on_step(10);  // taper starts: calibrate
    CHECK(t.at("c").item() == doctest::Approx(num / den).epsilon(1e-5));
    CHECK(t.at("weight_lin").to_vector() == t.at("weight").to_vector());
    const double c = t.at("c").item();
    n->on_step(14);
    CHECK(t.at("gate").item() == doctest::Approx(0.5));
    n->on_step(18);
    CHECK(t.at("gate").item() == 0.0);
    const Tensor x = randn({2, 5}, {}, &g);
    CHECK(allclose((*n)(x), x * t.at("weight") * c, 1e-6, 1e-6));  // per-channel linear
    CHECK(t.at("c").item() == c);  // EMAs stop at the taper: c never recalibrates
  }

  TEST_CASE("TaperNorm fold: a fully tapered GPT == the same GPT with its norms folded") {
    GPTConfig c = tiny("tapernorm");
    c.norm_final = "rmsnorm";  // the scale anchor stays (the paper's set-up)
    c.norm_options.taper_start = 0, c.norm_options.taper_steps = 1;
    GPT m(c);
    set_norm_step(m, 5);  // past the taper: every gate 0
    NoGradGuard no_grad;
    Generator g(9);
    for (auto& [n, b] : m.named_buffers())
      if (n.ends_with(".c")) Tensor(b).copy_(rand({}, {}, &g) + 0.5);
    for (auto& [n, p] : m.named_parameters())
      if (n.ends_with(".weight_lin")) Tensor(p).copy_(rand(p.shape(), {}, &g) + 0.5);
    const Tensor idx = tokens({2, 8}, 11, 3);
    const Tensor before = m(idx);
    const auto folded = fold_tapered_norms(m);
    CHECK(folded.size() == 2 * (size_t)c.n_layer);
    CHECK(allclose(m(idx), before, 1e-5, 1e-5));
    const Tensor x = randn({3, c.n_embd});
    CHECK(allclose((*m.blocks()[0]->ln_1)(x), x, 0, 0));  // now an exact identity
  }

  TEST_CASE("one seed, any norm kind: the same initial weights wherever the shapes agree") {
    // compare's fairness rests on this: norm parameters are constants, so every kind draws
    // the same random numbers for the Linear and embedding weights.
    GPT a(tiny("layernorm")), b(tiny("dyisru")), c(tiny("bhyt"));
    auto pa = a.named_parameters(), pb = b.named_parameters(), pc = c.named_parameters();
    std::map<std::string, Tensor> mb(pb.begin(), pb.end()), mc(pc.begin(), pc.end());
    int shared = 0;
    for (auto& [n, p] : pa)
      if (n.find(".ln_") == std::string::npos && n.find("ln_f") == std::string::npos) {
        CAPTURE(n);
        CHECK(p.to_vector() == mb.at(n).to_vector());
        CHECK(p.to_vector() == mc.at(n).to_vector());
        ++shared;
      }
    CHECK(shared > 10);
  }

  TEST_CASE("KV cache: forward_cached's logits are forward()'s at every position, every kind") {
    // A prompt in one call, then one token, two at once (the mask over cached and new
    // positions), one, one: up to block_size, for every kind. A whole text into an empty
    // cache is forward() bit for bit (the same kernels).
    double worst = 0;
    for (const auto& kind : kKinds) {
      CAPTURE(kind);
      GPTConfig c = tiny(kind);
      c.dropout = 0.1;
      GPT m(c);
      {  // weights away from their init, so every norm parameter matters
        NoGradGuard no_grad;
        Generator g(5);
        for (auto& [n, p] : m.named_parameters())
          Tensor(p).copy_(p + randn(p.shape(), {}, &g) * 0.3);
      }
      const Tensor idx = tokens({2, 8}, 11, 4);
      CHECK_THROWS_WITH_AS(
          [&] {
            KVCache cache;
            m.forward_cached(idx, cache);
          }(),
          doctest::Contains("forward_cached is inference only: call eval() first"), Error);
      m.eval();
      const Tensor full = m(idx);  // [2, 8, 11]
      KVCache cache;
      int64_t at = 0;
      for (int64_t n : {3, 1, 2, 1, 1}) {
        const Tensor got = m.forward_cached(idx.narrow(1, at, n), cache);
        const Tensor want = full.narrow(1, at, n);
        CHECK(!got.requires_grad());
        REQUIRE(got.shape() == want.shape());
        // relative to the logits' scale (a logit near 0 has no relative error of its own)
        const double err = max(abs(got - want)).item() / max(abs(want)).item();
        CHECK(err < 1e-5);
        worst = std::max(worst, err);
        at += n;
        CHECK(cache.length() == at);
      }
      CHECK_THROWS_WITH_AS(m.forward_cached(idx.narrow(1, 0, 1), cache),
                           doctest::Contains("sequence length 9 (8 cached + 1 new tokens) exceeds "
                                             "block_size 8"),
                           Error);
      cache.clear();  // a new text from position 0
      CHECK(m.forward_cached(idx.narrow(1, 0, 6), cache).shape() == Shape{2, 6, 11});
      cache.clear();
      CHECK(m.forward_cached(idx, cache).to_vector() == full.to_vector());
      cache.clear();
      m.forward_cached(idx.narrow(1, 0, 1), cache);
      CHECK_THROWS_WITH_AS(m.forward_cached(tokens({3, 1}, 11, 1), cache),
                           doctest::Contains("the new tokens 3 sequences"), Error);
    }
    MESSAGE("KV cache: largest |cached - full| / max |full| logit over every kind: ", worst);
  }

  TEST_CASE("unknown norm kinds and bad GPT configs are clear errors") {
    CHECK_THROWS_WITH_AS(make_norm("batchnorm", 4),
                         doctest::Contains("unknown norm kind 'batchnorm'"), Error);
    GPTConfig c = tiny("layernorm");
    c.n_head = 3;
    CHECK_THROWS_WITH_AS(GPT{c}, doctest::Contains("n_embd 16 is not divisible by n_head 3"),
                         Error);
    GPT m(tiny("layernorm"));
    CHECK_THROWS_WITH_AS(m(tokens({1, 9}, 11, 1)),
                         doctest::Contains("sequence length 9 exceeds block_size 8"), Error);
  }

  TEST_CASE("a tiny GPT overfits one batch (loss < 0.05) with every norm kind") {
    // n_embd 32, lr 1e-2 with 20 warmup steps. Three initialisations each, and at least two
    // must get there in 1000 steps: DyT sometimes stalls on a plateau near loss 0.1 (seed 7
    // here, and about one init in four at other settings; the other kinds never did), and
    // whether it does flips with float rounding anywhere in the model.
    if (kSanitized)
      MESSAGE("sanitizer build: 40 steps, one seed each, the loss must fall by a quarter");
    for (const auto& kind : kKinds) {
      CAPTURE(kind);
      int reached = 0;
      for (uint64_t seed : kSanitized ? std::vector<uint64_t>{8} : std::vector<uint64_t>{7, 8, 9}) {
        GPTConfig c = tiny(kind);
        c.n_embd = 32;
        c.seed = seed;
        GPT m(c);
        Tensor x = tokens({4, 8}, 11, 10), y = tokens({4, 8}, 11, 11);
        optim::AdamW opt(optim::single_group(m.named_parameters()), 1e-2);
        double loss = 0, first = 0;
        int step = 0;
        for (; step < (kSanitized ? 40 : 1000) && (step == 0 || loss >= 0.05); ++step) {
          opt.set_lr(optim::warmup_cosine(step, 1e-2, 20, 1000, 1e-2));
          Tensor l = m.loss(x, y);
          opt.zero_grad();
          l.backward();
          optim::clip_grad_norm(m.parameters(), 1.0);
          opt.step();
          loss = l.item();
          if (step == 0) first = loss;
        }
        MESSAGE(kind << " seed " << seed << ": loss " << loss << " after " << step << " steps");
        reached += kSanitized ? loss < 0.75 * first : loss < 0.05;
      }
      CHECK(reached >= (kSanitized ? 1 : 2));
    }
  }
}

// The gradient-flow measures that compare norms (probes.h) against the one change that must
// not move them: the residual stream scaled by k. With LayerNorm or RMSNorm (eps negligible)
// the model below computes the same loss after the rescaling (every norm sees k x, the
// branches' outputs are k times larger, ln_f's affine part takes 1/k back for the tied head),
// so the raw gradient at the stream shrinks by 1/k and the scale-free measures stay.
namespace {
nlohmann::json probe_record(GPT& m, const Tensor& x, const Tensor& y) {
  Probes probes(m, {.scatter_points = 4, .jacobian_tokens = 3, .power_iters = 60});
  probes.arm();
  m.zero_grad();
  m.loss(x, y).backward();
  probes.before_update();
  return nlohmann::json::parse(probes.after_update(1));
}
void scale_stream(GPT& m, double k) {
  ng::NoGradGuard no_grad;
  for (auto& [name, p] : m.named_parameters()) {
    const bool embedding = name == "transformer.wte.weight" || name == "transformer.wpe.weight";
    const bool branch_out = name.find("c_proj") != std::string::npos;
    if (embedding || branch_out) p.detach().mul_(k);
    if (name.rfind("transformer.ln_f.", 0) == 0) p.detach().mul_(1.0 / k);
  }
}
}  // namespace

TEST_SUITE("nn") {
  TEST_CASE(
      "gradient-flow measures: rescaling the stream by k moves the raw gradient by 1/k, "
      "not the scale-free ones") {
    for (const std::string kind : {"layernorm", "rmsnorm"}) {
      CAPTURE(kind);
      GPTConfig c = tiny(kind);
      c.norm_options.eps = 1e-12;
      GPT m(c);
      const Tensor x = tokens({3, 8}, c.vocab, 5), y = tokens({3, 8}, c.vocab, 6);
      const double loss0 = m.loss(x, y).item();
      const auto a = probe_record(m, x, y);
      const double k = 8.0;
      scale_stream(m, k);
      CHECK(m.loss(x, y).item() == doctest::Approx(loss0).epsilon(1e-5));  // the same function
      const auto b = probe_record(m, x, y);
      for (size_t i = 0; i < a["residual_grad"].size(); ++i) {
        CHECK(b["residual_rms"][i].get<double>() ==
              doctest::Approx(k * a["residual_rms"][i].get<double>()).epsilon(1e-4));
        CHECK(b["residual_grad"][i].get<double>() ==
              doctest::Approx(a["residual_grad"][i].get<double>() / k).epsilon(1e-4));
        CHECK(b["relative_grad"][i].get<double>() ==
              doctest::Approx(a["relative_grad"][i].get<double>()).epsilon(1e-4));
      }
      for (size_t n = 0; n < a["norms"].size(); ++n) {
        const auto &na = a["norms"][n], &nb = b["norms"][n];
        CAPTURE(na["name"].get<std::string>());
        CHECK(nb["norm_path_share"].get<double>() ==
              doctest::Approx(na["norm_path_share"].get<double>()).epsilon(1e-4));
        CHECK(nb["grad_in"].get<double>() ==
              doctest::Approx(na["grad_in"].get<double>() / k).epsilon(1e-4));
        for (size_t t = 0; t < na["jacobian_sigma_rel"].size(); ++t) {
          CHECK(nb["jacobian_sigma_max"][t].get<double>() ==
                doctest::Approx(na["jacobian_sigma_max"][t].get<double>() / k).epsilon(1e-3));
          CHECK(nb["jacobian_sigma_rel"][t].get<double>() ==
                doctest::Approx(na["jacobian_sigma_rel"][t].get<double>()).epsilon(1e-3));
          // scale-invariant layers remove the radial direction: J x = 0
          CHECK(na["jacobian_radial"][t].get<double>() < 1e-3);
          // RMSNorm: sigma_max = sqrt(C)/|x| = 1/RMS(x) exactly
          if (kind == "rmsnorm")
            CHECK(na["jacobian_sigma_rel"][t].get<double>() == doctest::Approx(1.0).epsilon(1e-3));
        }
      }
    }
  }

  TEST_CASE("gradient-flow measures: the skip path is the stream's gradient after the branch") {
    // In x -> h = x + attn(ln_1(x)) -> out = h + mlp(ln_2(h)), ln_1's skip path carries dL/dh
    // (ln_2's whole input gradient) and ln_2's carries dL/d out; ln_f has none. DyT: its
    // Jacobian keeps the radial direction (a diagonal alpha (1 - tanh^2) near 1 x alpha).
    GPTConfig c = tiny("dyt");
    GPT m(c);
    const Tensor x = tokens({3, 8}, c.vocab, 5), y = tokens({3, 8}, c.vocab, 6);
    const auto r = probe_record(m, x, y);
    const auto& norms = r["norms"];
    REQUIRE(norms.size() == 2 * c.n_layer + 1);
    for (int64_t i = 0; i < c.n_layer; ++i) {
      const auto &ln1 = norms[2 * i], &ln2 = norms[2 * i + 1];
      CHECK(ln1["grad_skip_path"].get<double>() ==
            doctest::Approx(ln2["grad_in"].get<double>()).epsilon(1e-4));
      CHECK(ln2["grad_skip_path"].get<double>() ==
            doctest::Approx(r["residual_grad"][i].get<double>()).epsilon(1e-4));
      const double share = ln1["norm_path_share"].get<double>();
      CHECK(share > 0);
      CHECK(share < 1);
      for (const auto& q : ln1["jacobian_radial"]) CHECK(q.get<double>() > 0.9);
    }
    const auto& lnf = norms.back();
    CHECK(lnf["grad_skip_path"].get<double>() < 1e-6 * lnf["grad_in"].get<double>());
    CHECK(lnf["norm_path_share"].get<double>() == doctest::Approx(1.0));
  }
}
