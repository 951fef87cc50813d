// Optimizers against values worked out by hand, groups, clipping, schedules, and a
// resumed run that matches the uninterrupted one bit for bit.
#include <cstdio>
#include <set>

#include "helpers.h"
#include "normgrad/nn.h"
#include "normgrad/optim.h"

using namespace ngt;
using namespace ng::nn;
using namespace ng::optim;

namespace {
// One f64 parameter [1.0, -2.0] whose gradient we set by hand.
struct One {
  Tensor p =
      from_vector(std::vector<double>{1.0, -2.0}, {2}, {.dtype = DType::F64}).requires_grad_();
  NamedTensors named() { return {{"p", p}}; }
  void grad(double a, double b) {
    p.set_grad(from_vector(std::vector<double>{a, b}, {2}, {.dtype = DType::F64}));
  }
};
}  // namespace

TEST_SUITE("optim") {
  TEST_CASE("SGD: plain, weight decay, momentum, Nesterov") {
    One o;
    SGD sgd(single_group(o.named(), 0.1), 0.5);
    o.grad(0.2, 0.4);
    sgd.step();  // g' = g + 0.1 p = (0.3, 0.2); p -= 0.5 g'
    CHECK(o.p.to_vector() == std::vector<double>{1.0 - 0.15, -2.0 - 0.1});

    One m;
    SGD mom(single_group(m.named()), 0.1, {.momentum = 0.9});
    m.grad(1.0, 1.0);
    mom.step();  // buf = g = 1; p = 1 - 0.1
    m.grad(0.5, 0.5);
    mom.step();  // buf = 0.9 + 0.5 = 1.4; p = 0.9 - 0.14
    CHECK(m.p.to_vector()[0] == doctest::Approx(0.76));

    One n;
    SGD nes(single_group(n.named()), 0.1, {.momentum = 0.9, .nesterov = true});
    n.grad(1.0, 1.0);
    nes.step();  // buf = 1; g' = 1 + 0.9 = 1.9; p = 1 - 0.19
    CHECK(n.p.to_vector()[0] == doctest::Approx(0.81));
    CHECK_THROWS_AS(SGD(single_group(n.named()), 0.1, {.nesterov = true}), Error);
  }

  TEST_CASE("Adam and AdamW: two steps against the formulas") {
    for (bool decoupled : {false, true}) {
      CAPTURE(decoupled);
      One o;
      const double lr = 0.1, wd = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
      Adam opt(single_group(o.named(), wd), lr, {b1, b2, eps}, decoupled);
      double p = 1.0, m = 0, v = 0;
      for (int t = 1; t <= 2; ++t) {
        const double g0 = t == 1 ? 0.3 : -0.2;
        o.grad(g0, 0.0);
        opt.step();
        const double g = decoupled ? g0 : g0 + wd * p;
        m = b1 * m + (1 - b1) * g;
        v = b2 * v + (1 - b2) * g * g;
        if (decoupled) p *= 1 - lr * wd;
        p -= lr / (1 - std::pow(b1, t)) * m / (std::sqrt(v) / std::sqrt(1 - std::pow(b2, t)) + eps);
        CHECK(o.p.to_vector()[0] == doctest::Approx(p).epsilon(1e-12));
      }
    }
  }

  TEST_CASE("default groups: decay only on non-embedding matrices; scalars apart") {
    GPTConfig c{.vocab = 5, .n_layer = 1, .n_head = 1, .n_embd = 4, .block_size = 3, .norm = "dyt"};
    GPT m(c);
    auto groups = default_groups(m.named_parameters(), 0.1, 0.5);
    REQUIRE(groups.size() == 3);
    auto names = [](const ParamGroup& g) {
      std::set<std::string> s;
      for (auto& [n, p] : g.params) s.insert(n);
      return s;
    };
    CHECK(names(groups[0]).count("transformer.h.0.attn.c_attn.weight") == 1);
    CHECK(names(groups[0]).count("transformer.wte.weight") == 0);
    CHECK(names(groups[1]).count("transformer.wte.weight") == 1);
    CHECK(names(groups[1]).count("transformer.h.0.ln_1.weight") == 1);
    CHECK(names(groups[2]) == std::set<std::string>{"transformer.h.0.ln_1.alpha",
                                                    "transformer.h.0.ln_2.alpha",
                                                    "transformer.ln_f.alpha"});
    CHECK(groups[0].weight_decay == 0.1);
    CHECK(groups[2].lr_scale == 0.5);
  }

  TEST_CASE("global-norm clipping returns the norm before clipping") {
    One o;
    o.grad(3.0, 4.0);
    CHECK(clip_grad_norm({o.p}, 1.0) == doctest::Approx(5.0));
    CHECK(o.p.grad().norm().item() == doctest::Approx(1.0).epsilon(1e-5));
    CHECK(clip_grad_norm({o.p}, 10.0) == doctest::Approx(1.0).epsilon(1e-5));  // no change
  }

  TEST_CASE("grad_norm: one float64 pass equals the composed norm; non-finite iff an element is") {
    Generator gen(3);
    // odd sizes (the 8-chain loop's tail), float32 and float64, a non-contiguous gradient
    Tensor a = randn({1001}, {.dtype = DType::F32}, &gen).requires_grad_();
    Tensor b = randn({3, 7}, {.dtype = DType::F64}, &gen).requires_grad_();
    Tensor c = randn({5, 4}, {.dtype = DType::F32}, &gen).requires_grad_();
    a.set_grad(randn({1001}, {.dtype = DType::F32}, &gen));
    b.set_grad(randn({3, 7}, {.dtype = DType::F64}, &gen));
    c.set_grad(randn({4, 5}, {.dtype = DType::F32}, &gen).t());
    double want = 0;
    for (const Tensor& t : {a, b, c})
      for (double v : t.grad().to_vector()) want += v * v;
    CHECK(grad_norm({a, b, c}) == doctest::Approx(std::sqrt(want)).epsilon(1e-13));
    clip_grads_to({a, b, c}, 1.0, std::sqrt(want));
    CHECK(grad_norm({a, b, c}) == doctest::Approx(1.0).epsilon(1e-5));
    std::vector<float> v(1001, 0.5f);
    v[1000] = NAN;  // in the tail
    a.set_grad(from_vector(v, {1001}));
    CHECK(std::isnan(grad_norm({a, b, c})));
    v[1000] = INFINITY;
    a.set_grad(from_vector(v, {1001}));
    CHECK(std::isinf(grad_norm({a, b, c})));
    const auto before = b.grad().to_vector();
    clip_grads_to({a, b, c}, 1.0, grad_norm({a, b, c}));  // non-finite: gradients untouched
    CHECK(b.grad().to_vector() == before);
  }

  TEST_CASE("grad_norm_tensor and clip_grads_to with a tensor norm equal the host versions") {
    auto make = [](uint64_t seed) {
      Generator g(seed);
      Tensor a = randn({1001}, {.dtype = DType::F32}, &g).requires_grad_();
      Tensor b = randn({3, 7}, {.dtype = DType::F64}, &g).requires_grad_();
      a.set_grad(randn({1001}, {.dtype = DType::F32}, &g) * 3.0);
      b.set_grad(randn({7, 3}, {.dtype = DType::F64}, &g).t());  // non-contiguous
      return TensorList{a, b};
    };
    const TensorList host = make(9), dev = make(9);
    const double n = grad_norm(host);
    const Tensor nt = grad_norm_tensor(dev);
    CHECK(nt.dtype() == DType::F64);
    CHECK(nt.dim() == 0);
    CHECK(nt.item() == doctest::Approx(n).epsilon(1e-13));
    for (double max_norm : {1.0, 1e9}) {  // clipped, and left alone
      const TensorList h = make(9), d = make(9);
      clip_grads_to(h, max_norm, n);
      clip_grads_to(d, max_norm, full({}, n, {.dtype = DType::F64}));
      for (size_t i = 0; i < h.size(); ++i)
        CHECK(h[i].grad().to_vector() == d[i].grad().to_vector());  // bit for bit
    }
    for (double bad : {NAN, INFINITY}) {  // non-finite: untouched, as on the host
      const TensorList d = make(9);
      const auto before = d[0].grad().to_vector();
      clip_grads_to(d, 1.0, full({}, bad, {.dtype = DType::F64}));
      CHECK(d[0].grad().to_vector() == before);
    }
    CHECK(grad_norm_tensor({Tensor(ones({2})).requires_grad_()}).item() == 0);  // no grads
  }

  TEST_CASE("warmup + cosine schedule") {
    CHECK(warmup_cosine(0, 1.0, 10, 110, 0.1) == doctest::Approx(0.1));
    CHECK(warmup_cosine(9, 1.0, 10, 110, 0.1) == doctest::Approx(1.0));
    CHECK(warmup_cosine(60, 1.0, 10, 110, 0.1) == doctest::Approx(0.55));
    CHECK(warmup_cosine(110, 1.0, 10, 110, 0.1) == doctest::Approx(0.1));
    CHECK(warmup_cosine(500, 1.0, 0, 0, 0.1) == 1.0);
  }

  TEST_CASE("resume from a checkpoint continues bit for bit") {
    GPTConfig c{.vocab = 9,
                .n_layer = 2,
                .n_head = 2,
                .n_embd = 8,
                .block_size = 6,
                .dropout = 0.1,
                .norm = "dyisru"};
    const std::string path = "resume_test.safetensors";
    auto batch = [](int step) {
      Generator g(100 + step);
      return std::make_pair(randint(0, 9, {3, 6}, {.dtype = DType::I64}, &g),
                            randint(0, 9, {3, 6}, {.dtype = DType::I64}, &g));
    };
    auto train = [&](GPT& m, AdamW& opt, int from, int to) {
      for (int s = from; s < to; ++s) {
        auto [x, y] = batch(s);
        opt.set_lr(warmup_cosine(s, 1e-2, 2, 8, 1e-3));
        Tensor l = m.loss(x, y);
        opt.zero_grad();
        l.backward();
        clip_grad_norm(m.parameters(), 1.0);
        opt.step();
      }
    };
    GPT a(c);
    AdamW oa(default_groups(a.named_parameters(), 0.1), 1e-2);
    train(a, oa, 0, 8);

    GPT b(c);
    AdamW ob(default_groups(b.named_parameters(), 0.1), 1e-2);
    train(b, ob, 0, 4);
    save_checkpoint(path, b, &ob, {{"dropout_rng", b.dropout_generator().state()}});
    GPTConfig other = c;
    other.seed = 4242;  // different init: everything must come from the file
    GPT r(other);
    AdamW orr(default_groups(r.named_parameters(), 0.1), 1e-2);
    auto meta = load_checkpoint(path, r, &orr);
    r.dropout_generator().set_state(meta.at("dropout_rng"));
    CHECK(orr.steps() == 4);
    train(r, orr, 4, 8);
    std::remove(path.c_str());
    auto pa = a.named_parameters(), pr = r.named_parameters();
    for (size_t i = 0; i < pa.size(); ++i) {
      CAPTURE(pa[i].first);
      CHECK(pa[i].second.to_vector() == pr[i].second.to_vector());
    }
  }

  TEST_CASE("a checkpoint's optimizer state is checked against the parameters before use") {
    // Regression (hostile checkpoints): a moment smaller than its parameter overflowed the
    // AdamW kernel's buffer; transposed or oversized moments were silently accepted.
    One o;
    AdamW opt(default_groups(o.named(), 0.0), 0.1);
    o.grad(1, 1);
    opt.step();
    const nn::StateDict good = opt.state_dict();
    auto with = [&](const std::string& key, const Tensor& v) {
      nn::StateDict sd = good;
      sd[key] = v;
      return sd;
    };
    REQUIRE(good.count("p.exp_avg"));
    CHECK_THROWS_WITH_AS(opt.load_state_dict(with("p.exp_avg", zeros({1}, {.dtype = DType::F64}))),
                         doctest::Contains("state 'p.exp_avg' has shape [1], its parameter [2]"),
                         Error);
    CHECK_THROWS_WITH_AS(opt.load_state_dict(with("p.exp_avg", zeros({2, 1}))),
                         doctest::Contains("has shape [2, 1], its parameter [2]"), Error);
    CHECK_THROWS_WITH_AS(opt.load_state_dict(with("q.exp_avg", zeros({2}))),
                         doctest::Contains("'q.exp_avg' belongs to no parameter"), Error);
    CHECK_THROWS_WITH_AS(opt.load_state_dict(with("step", full({}, -3.0))),
                         doctest::Contains("'step' must be a non-negative integer"), Error);
    CHECK_THROWS_WITH_AS(opt.load_state_dict(with("p.exp_avg", zeros({2}, {.dtype = DType::I64}))),
                         doctest::Contains("state 'p.exp_avg' is int64, its parameter float64"),
                         Error);
    CHECK_THROWS_WITH_AS(opt.load_state_dict(with("p.exp_avg", zeros({2}))),
                         doctest::Contains("is float32, its parameter float64"), Error);
    CHECK_THROWS_WITH_AS(
        opt.load_state_dict(with("p.exp_avg_sq", full({2}, NAN, {.dtype = DType::F64}))),
        doctest::Contains("'p.exp_avg_sq' holds inf or NaN"), Error);
    CHECK_THROWS_WITH_AS(
        opt.load_state_dict(with("p.exp_avg_sq", full({2}, -1.0, {.dtype = DType::F64}))),
        doctest::Contains("'p.exp_avg_sq' holds negative values"), Error);
    CHECK(opt.steps() == 1);  // a refused file changes nothing
    opt.load_state_dict(good);
    CHECK(opt.steps() == 1);
  }
}
