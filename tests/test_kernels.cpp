// CPU kernels against naive references: vectorized math, every reduction path, GEMM
// layouts, softmax on any dim, determinism across thread counts.
#include <cblas.h>
#include <sys/wait.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "helpers.h"
#include "normgrad/optim.h"

using namespace ngt;

namespace {
// Naive reference: reduce `dims` of a [2, 3, 4, 5]-style tensor with a double loop.
std::vector<double> naive_sum(const Tensor& x, const Dims& dims) {
  const Shape s = x.shape();
  Shape keep = s;
  for (auto d : dims) keep[d] = 1;
  std::vector<double> out(numel_of(keep), 0.0);
  const auto v = x.contiguous().to_vector();
  const Shape ks = contiguous_strides(keep), xs = contiguous_strides(s);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t o = 0;
    for (size_t d = 0; d < s.size(); ++d) {
      const int64_t idx = (i / xs[d]) % s[d];
      if (keep[d] != 1) o += idx * ks[d];
    }
    out[o] += v[i];
  }
  return out;
}
Shape keepdim_shape_for_test(Shape s, const Dims& dims) {
  for (auto d : dims) s[d] = 1;
  return s;
}
}  // namespace

TEST_SUITE("kernels") {
  TEST_CASE("denormals are flushed to zero on every thread, and kept when asked") {
    // 1e-20 * 1e-20 = 1e-40 is below FLT_MIN: a denormal result (FTZ flushes it); 1e-40 as
    // an input (DAZ reads it as 0). 1M elements: the products run on every pool thread.
    const int64_t n = int64_t(1) << 20;
    const Tensor small = full({n}, 1e-20, {.dtype = DType::F32});
    auto all_equal = [](const Tensor& t, double v) {
      for (double x : t.to_vector())
        if (x != v) return false;
      return true;
    };
    const char* keep = std::getenv("NG_KEEP_DENORMALS");
    if (keep && *keep && std::string(keep) != "0") {
      MESSAGE("NG_KEEP_DENORMALS is set: the default-on check is skipped");
    } else {
      CHECK(flush_denormals());
      CHECK(all_equal(small * 1e-20, 0.0));
    }
    const int before = num_threads();
    set_flush_denormals(false);
    CHECK_FALSE(flush_denormals());
    const Tensor denormal = small * 1e-20;  // kept: 1e-40 everywhere
    CHECK(denormal.to_vector()[0] > 0.0);
    CHECK(all_equal(denormal, denormal.to_vector()[0]));
    CHECK(all_equal(denormal * 1e10, (denormal * 1e10).to_vector()[0]));
    CHECK((denormal * 1e10).to_vector()[n - 1] > 1e-31);
    set_flush_denormals(true);
    CHECK(all_equal(small * 1e-20, 0.0));    // FTZ on every thread
    CHECK(all_equal(denormal * 1e10, 0.0));  // DAZ: the denormal input reads as 0
    set_num_threads(before + 1);             // a grown pool: its new thread flushes too
    CHECK(all_equal(small * 1e-20, 0.0));
    set_num_threads(before);
  }

  TEST_CASE("round_to_bf16: nearest, ties to even, infinities, NaN, overflow") {
    const float u = std::ldexp(1.0f, -7);  // bf16's spacing at 1
    CHECK(round_to_bf16(1.0f) == 1.0f);
    CHECK(round_to_bf16(1.0f + u / 2) == 1.0f);               // tie: down to even
    CHECK(round_to_bf16(1.0f + 3 * u / 2) == 1.0f + 2 * u);   // tie: up to even
    CHECK(round_to_bf16(1.0f + u / 2 + u / 64) == 1.0f + u);  // above the tie: up
    CHECK(round_to_bf16(-3.0f - u / 4) == -3.0f);
    CHECK(round_to_bf16(INFINITY) == INFINITY);
    CHECK(round_to_bf16(-INFINITY) == -INFINITY);
    CHECK(std::isnan(round_to_bf16(NAN)));
    CHECK(std::isnan(round_to_bf16(std::bit_cast<float>(0x7f800001u))));  // low-payload NaN
    CHECK(round_to_bf16(3.4028235e38f) == INFINITY);  // past bf16's largest finite value
    CHECK(std::signbit(round_to_bf16(-0.0f)));
    for (float x : {0.1f, -7.3e-5f, 12345.678f, 3.3e-39f}) {
      const float r = round_to_bf16(x);
      CHECK((std::bit_cast<uint32_t>(r) & 0xffffu) == 0u);
      CHECK(std::abs(r - x) <= std::abs(x) * std::ldexp(1.0, -8) * 1.0000001);
    }
  }

  TEST_CASE("bf16 matmuls equal float32 products of bf16-rounded operands, forward and backward") {
    auto max_abs_diff = [](const Tensor& p, const Tensor& q) {
      const auto u = p.contiguous().to_vector(), v = q.contiguous().to_vector();
      REQUIRE(u.size() == v.size());
      double worst = 0;
      for (size_t i = 0; i < u.size(); ++i) worst = std::max(worst, std::abs(u[i] - v[i]));
      return worst;
    };
    Generator gen(7);
    auto normal = [&](const Shape& shape) { return randn(shape, {.dtype = DType::F32}, &gen); };
    auto rounded = [](const Tensor& t) {
      std::vector<float> v;
      for (double x : t.contiguous().to_vector()) v.push_back(round_to_bf16((float)x));
      return from_vector(v, t.shape());
    };
    const Tensor a = normal({3, 37, 29});
    const Tensor b = normal({29, 23});
    const Tensor fp32 = matmul(a, b);
    Tensor bf16;
    {
      const MatmulPrecisionScope scope(MatmulPrecision::BF16);
      CHECK(matmul_precision() == MatmulPrecision::BF16);
      bf16 = matmul(a, b);
      // a transposed view and a broadcast batch take the same path
      CHECK(max_abs_diff(matmul(a.transpose(1, 2).contiguous().transpose(1, 2), b), bf16) < 1e-5);
    }
    CHECK(matmul_precision() == MatmulPrecision::F32);  // the scope restored it
    CHECK(max_abs_diff(bf16, matmul(rounded(a), rounded(b))) < 1e-5);
    CHECK(max_abs_diff(bf16, fp32) > 1e-3);  // it did round: bf16 keeps ~3 digits
    CHECK(max_abs_diff(bf16, fp32) < 0.2);

    // linear: forward and both backward products take rounded operands too
    Tensor x = normal({2, 7, 29}).requires_grad_();
    Tensor w = normal({11, 29}).requires_grad_();
    Tensor bias = normal({11}).requires_grad_();
    const Tensor g = normal({2, 7, 11});
    Tensor y;
    {
      const MatmulPrecisionScope scope(MatmulPrecision::BF16);
      y = linear(x, w, bias);
      sum(y * g).backward();
    }
    const Tensor x2 = rounded(x.detach().reshape({14, 29})), w2 = rounded(w.detach());
    const Tensor g2 = rounded(g.reshape({14, 11}));
    CHECK(max_abs_diff(y.detach().reshape({14, 11}), matmul(x2, w2.t()) + bias.detach()) < 1e-5);
    CHECK(max_abs_diff(x.grad().reshape({14, 29}), matmul(g2, w2)) < 1e-5);
    CHECK(max_abs_diff(w.grad(), matmul(g2.t(), x2)) < 1e-5);

    // float64 products are never rounded
    const Tensor a64 = a.to(DType::F64), b64 = b.to(DType::F64);
    const Tensor exact = matmul(a64, b64);
    const MatmulPrecisionScope scope(MatmulPrecision::BF16);
    CHECK(max_abs_diff(matmul(a64, b64), exact) == 0);
    CHECK_THROWS_WITH_AS(parse_matmul_precision("fp16"),
                         doctest::Contains("unknown matmul precision 'fp16'"), Error);
  }

  TEST_CASE("round_to_tf32: 10 mantissa bits, nearest, ties to even, infinities, NaN") {
    const float u = std::ldexp(1.0f, -10);  // TF32's spacing at 1
    CHECK(round_to_tf32(1.0f) == 1.0f);
    CHECK(round_to_tf32(1.0f + u / 2) == 1.0f);               // tie: down to even
    CHECK(round_to_tf32(1.0f + 3 * u / 2) == 1.0f + 2 * u);   // tie: up to even
    CHECK(round_to_tf32(1.0f + u / 2 + u / 64) == 1.0f + u);  // above the tie: up
    CHECK(round_to_tf32(1.0f + u) == 1.0f + u);               // representable: kept
    CHECK(round_to_tf32(-3.0f - u / 4) == -3.0f);
    CHECK(round_to_tf32(INFINITY) == INFINITY);
    CHECK(round_to_tf32(-INFINITY) == -INFINITY);
    CHECK(std::isnan(round_to_tf32(NAN)));
    CHECK(std::isnan(round_to_tf32(std::bit_cast<float>(0x7f800001u))));  // low-payload NaN
    CHECK(round_to_tf32(3.4028235e38f) == INFINITY);  // past TF32's largest finite value
    CHECK(std::isfinite(round_to_tf32(3.0e38f)));     // float32's exponent range
    CHECK(std::signbit(round_to_tf32(-0.0f)));
    for (float x : {0.1f, -7.3e-5f, 12345.678f, 3.3e-39f}) {
      const float r = round_to_tf32(x);
      CHECK((std::bit_cast<uint32_t>(r) & 0x1fffu) == 0u);
      CHECK(std::abs(r - x) <= std::abs(x) * std::ldexp(1.0, -11) * 1.0000001);
    }
    CHECK(to_string(MatmulPrecision::TF32) == "tf32");
    CHECK(parse_matmul_precision("tf32") == MatmulPrecision::TF32);
    CHECK(parse_matmul_precision(to_string(MatmulPrecision::BF16)) == MatmulPrecision::BF16);
    CHECK(parse_matmul_precision(to_string(MatmulPrecision::F32)) == MatmulPrecision::F32);
    CHECK_THROWS_WITH_AS(parse_matmul_precision("TF32"), doctest::Contains("(fp32, tf32 or bf16)"),
                         Error);
  }

  TEST_CASE("tf32 matmuls on the CPU equal float32 products of tf32-rounded operands") {
    // The CPU emulates TF32 as it does bf16: rounded operand copies, then sgemm. Products of
    // two 11-bit significands are exact in float32, so this is what cuBLAS's TF32 tensor
    // cores compute up to the order of the float32 sums.
    auto max_abs_diff = [](const Tensor& p, const Tensor& q) {
      const auto u = p.contiguous().to_vector(), v = q.contiguous().to_vector();
      REQUIRE(u.size() == v.size());
      double worst = 0;
      for (size_t i = 0; i < u.size(); ++i) worst = std::max(worst, std::abs(u[i] - v[i]));
      return worst;
    };
    Generator gen(11);
    auto normal = [&](const Shape& shape) { return randn(shape, {.dtype = DType::F32}, &gen); };
    auto rounded = [](const Tensor& t) {
      std::vector<float> v;
      for (double x : t.contiguous().to_vector()) v.push_back(round_to_tf32((float)x));
      return from_vector(v, t.shape());
    };
    const Tensor a = normal({3, 37, 29});
    const Tensor b = normal({29, 23});
    const Tensor fp32 = matmul(a, b);
    Tensor tf32, bf16;
    {
      const MatmulPrecisionScope scope(MatmulPrecision::TF32);
      CHECK(matmul_precision() == MatmulPrecision::TF32);
      tf32 = matmul(a, b);
      CHECK(max_abs_diff(matmul(a.transpose(1, 2).contiguous().transpose(1, 2), b), tf32) < 1e-5);
    }
    {
      const MatmulPrecisionScope scope(MatmulPrecision::BF16);
      bf16 = matmul(a, b);
    }
    CHECK(matmul_precision() == MatmulPrecision::F32);
    CHECK(max_abs_diff(tf32, matmul(rounded(a), rounded(b))) < 1e-5);
    // (INFO stringifies lazily, inside doctest's reporter: no assertions in its arguments)
    const double err = max_abs_diff(tf32, fp32), bf16_err = max_abs_diff(bf16, fp32);
    INFO("tf32 vs fp32 " << err << ", bf16 vs fp32 " << bf16_err);
    CHECK(err > 1e-5);          // it did round
    CHECK(err < bf16_err / 3);  // 3 more mantissa bits than bf16
    CHECK(err < 0.03);

    // linear: forward and both backward products take rounded operands
    Tensor x = normal({2, 7, 29}).requires_grad_();
    Tensor w = normal({11, 29}).requires_grad_();
    const Tensor g = normal({2, 7, 11});
    Tensor y;
    {
      const MatmulPrecisionScope scope(MatmulPrecision::TF32);
      y = linear(x, w, Tensor());
      sum(y * g).backward();
    }
    const Tensor x2 = rounded(x.detach().reshape({14, 29})), w2 = rounded(w.detach());
    const Tensor g2 = rounded(g.reshape({14, 11}));
    CHECK(max_abs_diff(y.detach().reshape({14, 11}), matmul(x2, w2.t())) < 1e-5);
    CHECK(max_abs_diff(x.grad().reshape({14, 29}), matmul(g2, w2)) < 1e-5);
    CHECK(max_abs_diff(w.grad(), matmul(g2.t(), x2)) < 1e-5);

    // float64 products are never rounded
    const Tensor a64 = a.to(DType::F64), b64 = b.to(DType::F64);
    const Tensor exact = matmul(a64, b64);
    const MatmulPrecisionScope scope(MatmulPrecision::TF32);
    CHECK(max_abs_diff(matmul(a64, b64), exact) == 0);
  }

  TEST_CASE("vectorized float exp / tanh / sigmoid / gelu match float64 to a few ulp") {
    Tensor x64 = arange(-20, 20, 0.001, {.dtype = DType::F64});
    Tensor x32 = x64.to(DType::F32);
    struct F {
      std::string name;
      std::function<Tensor(const Tensor&)> f;
    };
    for (const F& f :
         std::vector<F>{{"exp", [](const Tensor& t) { return exp(t); }},
                        {"tanh", [](const Tensor& t) { return tanh(t); }},
                        {"sigmoid", [](const Tensor& t) { return sigmoid(t); }},
                        {"gelu_tanh", [](const Tensor& t) { return gelu(t, GeluApprox::Tanh); }},
                        {"gelu", [](const Tensor& t) { return gelu(t); }},
                        {"silu", [](const Tensor& t) { return silu(t); }}}) {
      CAPTURE(f.name);
      auto got = f.f(x32).to_vector(), want = f.f(x32.to(DType::F64)).to_vector();
      // Relative error with a tiny absolute floor. Far in the tails exp(-2|u|) amplifies the
      // float rounding of u itself (condition number ~|2u|), so allow ~25 ulp there.
      double worst = 0;
      for (size_t i = 0; i < got.size(); ++i)
        worst = std::max(worst, std::fabs(got[i] - want[i]) / (std::fabs(want[i]) + 1e-9));
      // GELU's tail, x Phi(x) ~ x e^(-x^2/2): the float rounding of x is amplified ~x^2/2
      CHECK(worst < (f.name == "gelu" ? 5e-6 : 3e-6));
    }
    CHECK(std::isinf(exp(tensor({100.0})).item()));
    // the top of float's range: 2^128 must not appear as an intermediate (was NaN there)
    for (double v : {88.1, 88.5, 88.7})
      CHECK(exp(tensor({v})).item() == doctest::Approx(std::exp(v)).epsilon(1e-5));
    CHECK(std::isfinite(gelu(tensor({-10.05}), GeluApprox::Tanh).item()));
    CHECK(std::isfinite(sigmoid(tensor({-88.5})).item()));
    CHECK(exp(tensor({-200.0})).item() == 0.0);
    CHECK(std::isnan(tanh(tensor({NAN})).item()));
    CHECK(tanh(tensor({1e-8})).item() == doctest::Approx(1e-8).epsilon(1e-6));
  }

  TEST_CASE("AVX-512 and AVX2 builds of GELU and AdamW give the same values") {
    if (!avx512_kernels()) {
      MESSAGE("skipped: no AVX-512 on this CPU (the AVX2 code is what runs here)");
      return;
    }
    Generator gen(9);
    const Tensor x = randn({100003}, {}, &gen) * 4.0, g = randn({100003}, {}, &gen);
    TensorList runs[2];
    for (bool wide : {false, true}) {
      set_avx512_kernels(wide);
      const Tensor xr = x.detach().requires_grad_();
      const Tensor y = gelu(xr);
      const Tensor dx = autograd::grad({y}, {xr}, {g})[0];
      Tensor p = x.clone(), gr = g.clone();
      p.requires_grad_();
      p.set_grad(gr);
      optim::AdamW opt(optim::single_group({{"p", p}}, 0.1), 1e-2);
      opt.step();
      opt.step();
      runs[wide] = {y, dx, p.detach()};
    }
    set_avx512_kernels(true);
    for (int i = 0; i < 3; ++i) CHECK(allclose(runs[1][i], runs[0][i], 2e-6, 1e-7));
  }

  TEST_CASE("fused GELU backward kernels equal the composed formula they replace") {
    const bool had_avx512 = avx512_kernels();
    for (bool wide : {false, true})
      for (DType dt : {DType::F32, DType::F64})
        for (GeluApprox ap : {GeluApprox::None, GeluApprox::Tanh}) {
          set_avx512_kernels(wide);  // both builds where the CPU has AVX-512
          const std::string dt_name = dtype_name(dt);
          CAPTURE(wide);
          CAPTURE(dt_name);
          CAPTURE((int)ap);
          const Tensor x = (arange(-12, 12, 0.0037, {.dtype = dt})).requires_grad_();
          Generator gen(4);
          const Tensor g = randn(x.shape(), {.dtype = dt}, &gen);
          // create_graph=false takes the fused kernel; true differentiates the composed ops
          const Tensor fused = autograd::grad({gelu(x, ap)}, {x}, {g})[0];
          // The composed formula, in float64 on the same inputs: in float32 its 1 + erf and
          // 1 + tanh cancel for negative x (the fused kernel's normal-CDF / sigmoid form
          // does not), so the float64 evaluation is the reference.
          const Tensor x64 = x.detach().to(DType::F64).requires_grad_();
          const Tensor composed =
              autograd::grad({gelu(x64, ap)}, {x64}, {g.to(DType::F64)}, true)[0];
          // (atol: near x = -0.75, where gelu' crosses zero, Phi + x phi cancels in float32)
          CHECK(allclose(fused, composed, dt == DType::F32 ? 1e-5 : 1e-12,
                         dt == DType::F32 ? 1e-6 : 1e-10));
        }
    set_avx512_kernels(had_avx512);
  }

  TEST_CASE("sum over every subset of dims, contiguous and permuted, matches a naive loop") {
    for (DType dt : {DType::F32, DType::F64}) {
      Generator g(3);
      Tensor x = randn({3, 4, 5, 6}, {.dtype = dt}, &g);
      for (int mask = 1; mask < 16; ++mask) {
        Dims dims;
        for (int d = 0; d < 4; ++d)
          if (mask & (1 << d)) dims.push_back(d);
        CAPTURE(mask);
        auto want = naive_sum(x, dims);
        CHECK(allclose(
            sum(x, dims, true),
            from_vector(want, keepdim_shape_for_test(x.shape(), dims), {.dtype = DType::F64}), 1e-5,
            1e-5));
        Tensor p = x.permute({2, 0, 3, 1});
        auto wantp = naive_sum(p, dims);
        CHECK(allclose(
            sum(p, dims, true),
            from_vector(wantp, keepdim_shape_for_test(p.shape(), dims), {.dtype = DType::F64}),
            1e-5, 1e-5));
      }
    }
  }

  TEST_CASE("max / min / argmax along inner and outer dims") {
    Tensor x = from_vector(std::vector<double>{3, 9, 1, 7, 2, 8}, {2, 3});
    CHECK(max(x, {1}).to_vector() == std::vector<double>{9, 8});
    CHECK(min(x, {0}).to_vector() == std::vector<double>{3, 2, 1});
    CHECK(argmax(x, 1).to_vector() == std::vector<double>{1, 2});
    CHECK(argmax(x, 0).to_vector() == std::vector<double>{1, 0, 1});
    CHECK(argmin(x.t(), 1).to_vector() == std::vector<double>{0, 1, 0});
    CHECK(max(x).item() == 9);
    CHECK(std::isnan(max(tensor({1.0, NAN, 3.0})).item()));
  }

  TEST_CASE("long sums are accurate and identical for 1 and 2 threads") {
    Generator g(1);
    Tensor x = rand({1 << 22}, {}, &g);
    const int before = num_threads();
    set_num_threads(1);
    const double s1 = sum(x).item();
    const auto cols1 = sum(x.reshape({4096, 1024}), {0}).to_vector();
    set_num_threads(2);
    const double s2 = sum(x).item();
    const auto cols2 = sum(x.reshape({4096, 1024}), {0}).to_vector();
    set_num_threads(before);
    CHECK(s1 == s2);
    CHECK(cols1 == cols2);
    CHECK(s1 == doctest::Approx(sum(x.to(DType::F64)).item()).epsilon(1e-6));
  }

  TEST_CASE("matmul agrees with a naive product for every layout") {
    Generator g(5);
    for (DType dt : {DType::F32, DType::F64}) {
      Tensor a = randn({7, 5}, {.dtype = dt}, &g), b = randn({5, 3}, {.dtype = dt}, &g);
      auto naive = [](const Tensor& A, const Tensor& B) {
        const int64_t M = A.size(0), K = A.size(1), N = B.size(1);
        std::vector<double> out(M * N, 0);
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j)
            for (int64_t k = 0; k < K; ++k) out[i * N + j] += A.at({i, k}) * B.at({k, j});
        return from_vector(out, {M, N}, {.dtype = DType::F64});
      };
      CHECK(allclose(matmul(a, b), naive(a, b), 1e-5, 1e-5));
      Tensor at = a.t().contiguous(), bt = b.t().contiguous();
      CHECK(allclose(matmul(at.t(), bt.t()), naive(a, b), 1e-5, 1e-5));
      Tensor s = randn({7, 10}, {.dtype = dt}, &g).slice(1, 0, 10, 2);  // no unit stride: copied
      CHECK(allclose(matmul(s, b), naive(s, b), 1e-5, 1e-5));
      Tensor ba = randn({4, 7, 5}, {.dtype = dt}, &g);
      Tensor bb = matmul(ba, b);  // b broadcast over the batch
      for (int64_t i = 0; i < 4; ++i)
        CHECK(allclose(bb.select(0, i), naive(ba.select(0, i), b), 1e-5, 1e-5));
    }
  }

  TEST_CASE("framework matmul equals a direct cblas_sgemm bit for bit") {
    Generator g(9);
    Tensor a = randn({64, 48}, {}, &g), b = randn({48, 32}, {}, &g);
    std::vector<float> c(64 * 32);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 64, 32, 48, 1.0f, a.data<float>(), 48,
                b.data<float>(), 32, 0.0f, c.data(), 32);
    Tensor m = matmul(a, b);
    for (int64_t i = 0; i < 64 * 32; ++i) CHECK(m.data<float>()[i] == c[i]);
  }

  TEST_CASE("softmax over a non-last dim and with -inf entries") {
    Tensor x = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor s0 = softmax(x, 0);
    CHECK(s0.at({0, 0}) == doctest::Approx(1 / (1 + std::exp(3.0))));
    CHECK(sum(s0, {0}).to_vector()[2] == doctest::Approx(1));
    Tensor m = from_vector(std::vector<double>{0, -INFINITY, 0}, {3});
    CHECK(softmax(m, 0).to_vector()[1] == 0);
    CHECK(log_softmax(x, 1).at({0, 2}) ==
          doctest::Approx(3 - std::log(std::exp(1.) + std::exp(2.) + std::exp(3.))));
  }

  TEST_CASE("index_add / scatter_add accumulate duplicates deterministically") {
    Tensor base = zeros({3, 2});
    Tensor idx = from_vector(std::vector<int64_t>{2, 0, 2, 2}, {4});
    Tensor src = ones({4, 2});
    CHECK(index_add(base, 0, idx, src).to_vector() == std::vector<double>{1, 1, 0, 0, 3, 3});
    Tensor gi = from_vector(std::vector<int64_t>{1, 1, 0, 0}, {2, 2});
    Tensor sc = scatter_add(zeros({2, 2}), 1, gi, ones({2, 2}));
    CHECK(sc.to_vector() == std::vector<double>{0, 2, 2, 0});
  }

  TEST_CASE(
      "OpenBLAS kernel family: the environment's choice is kept, a generic one upgraded, a forced "
      "one probed") {
    // Pure decisions (no variable is set by this test).
    CHECK(decide_blas_core(nullptr, nullptr).force.empty());
    CHECK(decide_blas_core(nullptr, nullptr).reason == "OpenBLAS's own choice");
    const auto kept = decide_blas_core("auto", "Haswell");
    CHECK(kept.force.empty());
    CHECK(kept.reason.find("OPENBLAS_CORETYPE=Haswell from the environment, kept") == 0);
    CHECK(decide_blas_core("keep", "Haswell").force.empty());
    CHECK(decide_blas_core("SkylakeX", "Haswell").force == "SkylakeX");
    CHECK(decide_blas_core("SkylakeX", nullptr).reason.find("forced") != std::string::npos);

    // OpenBLAS's own choice is replaced only when it is generic and the CPU has better.
    const CpuVectorIsa sse{}, avx2{.avx2_fma = true}, avx512{.avx2_fma = true, .avx512 = true},
        bf16{.avx2_fma = true, .avx512 = true, .avx512_bf16 = true};
    CHECK(blas_family_for(sse).empty());
    CHECK(blas_family_for(avx2) == "Haswell");
    CHECK(blas_family_for(avx512) == "SkylakeX");
    CHECK(blas_family_for(bf16) == "Cooperlake");
    for (const char* f : {"Prescott", "NEHALEM", "Core2", "Sandybridge", "Opteron(SSE3)"})
      CHECK_MESSAGE(blas_family_is_generic(f), f);
    for (const char* f : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", ""})
      CHECK_MESSAGE(!blas_family_is_generic(f), f);
    const auto upgraded = decide_blas_core(nullptr, nullptr, nullptr, "Prescott", avx512);
    CHECK(upgraded.force == "SkylakeX");
    CHECK(upgraded.automatic);
    CHECK(upgraded.reason == "OpenBLAS chose Prescott on a CPU with AVX-512: SkylakeX");
    CHECK(decide_blas_core("auto", nullptr, nullptr, "Nehalem", avx2).force == "Haswell");
    CHECK(decide_blas_core(nullptr, nullptr, nullptr, "Prescott", bf16).force == "Cooperlake");
    CHECK(decide_blas_core(nullptr, nullptr, nullptr, "Prescott", sse).force.empty());
    CHECK(decide_blas_core(nullptr, nullptr, nullptr, "Zen", avx512).force.empty());  // not generic
    // a pinned family and NG_BLAS_CORE=keep are never second-guessed
    CHECK(decide_blas_core(nullptr, "Prescott", nullptr, "Prescott", avx512).force.empty());
    CHECK(decide_blas_core("keep", nullptr, nullptr, "Prescott", avx512).reason ==
          "OpenBLAS's own choice");
    // the re-run: the family is in OPENBLAS_CORETYPE and the marker says why, for it and the
    // processes it starts (compare's runs); a family that failed the probe is not retried
    const auto rerun = decide_blas_core(nullptr, "SkylakeX", "auto:Prescott", "SkylakeX", avx512);
    CHECK(rerun.force == "SkylakeX");
    CHECK(rerun.automatic);
    CHECK(rerun.reason.find("picked from CPUID: OpenBLAS chose Prescott, a generic family, on a "
                            "CPU with AVX-512") == 0);
    const auto fell_back =
        decide_blas_core(nullptr, nullptr, "fallback:SkylakeX", "Prescott", avx512);
    CHECK(fell_back.force.empty());
    CHECK(fell_back.reason.find("SkylakeX, the family this CPU's instructions match, could not be "
                                "used") != std::string::npos);
    // this machine: what the thread line says
    MESSAGE("this CPU: family for its instructions '" << blas_family_for(cpu_vector_isa()) << "'; "
                                                      << blas_core_choice());

    // The probe passes the family in use and refuses a GEMM that is subtly wrong.
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(
        blas_probe_error("this", [](bool ta, bool tb, int M, int N, int K, const float* A, int lda,
                                    const float* B, int ldb, float beta, float* C, int ldc) {
          cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                      M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        }) == "");
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE("probe time: " << ms << " ms");
    // wrong only for transposed B with odd K: the edge case a broken kernel gets wrong
    const SgemmFn broken = [](bool ta, bool tb, int M, int N, int K, const float* A, int lda,
                              const float* B, int ldb, float beta, float* C, int ldc) {
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                  N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
      if (tb && K % 2 == 1) C[ldc * (M - 1) + N - 1] += 0.01f;
    };
    const std::string err = blas_probe_error("Bogus", broken);
    CHECK(err.find("OpenBLAS kernel family Bogus computes wrong sgemm results") == 0);
    CHECK(err.find("B^T") != std::string::npos);
    CHECK(err.find('\n') == std::string::npos);  // one line
  }

  TEST_CASE("the command on emulated CPUs: one OpenBLAS does not know, one without AVX2") {
    // The automatic replacement end to end, which no real machine here triggers: qemu-user
    // runs the command on an Intel CPU of an unknown model (family 6, model 200) with AVX2 +
    // FMA. OpenBLAS falls back to Prescott there; the command must pick Haswell, re-run
    // itself (the re-run executes natively: qemu-user hands execve to the host), check
    // that OpenBLAS loaded it, probe it, and say so; NG_BLAS_CORE=keep keeps Prescott.
#ifdef NG_SANITIZED
    MESSAGE(
        "skipped: ASan's shadow memory does not map under qemu-user (the release build runs it)");
    return;
#endif
#if !defined(__x86_64__)
    MESSAGE("skipped: the emulated CPU is x86_64");
    return;
#endif
    if (std::system("command -v qemu-x86_64 > /dev/null 2>&1") != 0) {
      MESSAGE("skipped: qemu-x86_64 not found (Debian's qemu-user; tools/test.sh installs it)");
      return;
    }
    // a sandbox may forbid what qemu-user needs (its own mappings, personality): then it
    // cannot run even /bin/true, and that says nothing about normgrad
    if (std::system("qemu-x86_64 -cpu max /bin/true > /dev/null 2>&1") != 0) {
      MESSAGE("skipped: qemu-x86_64 cannot run /bin/true on this machine");
      return;
    }
    if (std::string(NG_BUILD_ARCH) != "x86-64-v3") {  // v4 would not load on QEMU's CPUs
      MESSAGE("skipped: this build targets -march=" << NG_BUILD_ARCH << ", the test x86-64-v3");
      return;
    }
    if (!cpu_vector_isa().avx2_fma) {  // the native re-run loads Haswell
      MESSAGE("skipped: this CPU has no AVX2 + FMA for the re-run's Haswell kernels");
      return;
    }
    const std::string binary = std::string("'") + NG_CLI_BINARY + "'";
    const auto run = [](const std::string& cmd, const std::string& file, int* rc) {
      *rc = std::system((cmd + " > " + file + " 2>&1").c_str());
      std::ifstream f(file);
      return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    };
    const auto version_line = [&](const std::string& env, const std::string& file) {
      const std::string cmd =
          "env -u OPENBLAS_CORETYPE -u NG_BLAS_CORE -u NG_BLAS_CORE_APPLIED " + env +
          " qemu-x86_64 -cpu max,vendor=GenuineIntel,family=6,model=200 " + binary + " --version";
      int rc = 0;
      const std::string out = run(cmd, file, &rc);
      INFO(cmd << "\n" << out);
      CHECK(WIFEXITED(rc));
      CHECK(WEXITSTATUS(rc) == 0);
      return out;
    };
    // First what OpenBLAS itself does there: another OpenBLAS may know the model, or lack
    // the Haswell family; then there is no fallback to replace.
    const std::string kept = version_line("NG_BLAS_CORE=keep", "emulated_keep.txt");
    if (kept.find("core Prescott (OpenBLAS's own choice)") == std::string::npos) {
      MESSAGE("skipped: this OpenBLAS does not fall back to Prescott on the emulated CPU:\n"
              << kept);
      return;
    }
    const std::string picked = version_line("", "emulated_auto.txt");
    // The re-run runs natively, so it names the host's instruction set (AVX2 or AVX-512).
    CHECK(picked.find("core Haswell (picked from CPUID: OpenBLAS chose Prescott, a generic family, "
                      "on a CPU with AVX") != std::string::npos);
    CHECK(picked.find("checked against a float64 reference") != std::string::npos);
    CHECK(picked.find("warning") == std::string::npos);

    // A CPU without AVX2 (Westmere): the loader refuses the x86-64-v3 build with one line
    // instead of a SIGILL in the middle of something, when the linker marked the binaries.
    int rc = 0;
    const std::string notes = run("readelf -n " + binary, "emulated_notes.txt", &rc);
    if (notes.find("x86 ISA needed") == std::string::npos ||
        notes.find("x86-64-v3") == std::string::npos) {
      MESSAGE("skipped the CPU without AVX2: the binary carries no ISA-level note");
      return;
    }
    const std::string cmd = "qemu-x86_64 -cpu Westmere " + binary + " --version";
    const std::string out = run(cmd, "emulated_old_cpu.txt", &rc);
    INFO(cmd << "\n" << out);
    CHECK(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) != 0);
    CHECK(out.find("CPU ISA level is lower than required") != std::string::npos);
  }

  TEST_CASE("float32 sums are the float64 sum, correctly rounded (long rows, lanes, tails)") {
    // Rows of 2000 and 5003 values in [-2, 2): the sum accumulates in double, so the float32
    // result is the exact sum rounded once (the GPU's reductions do the same; the first GPU
    // run caught the CPU adding 32-term lanes in float32, 5x a tight tolerance apart).
    for (int64_t R : {31, 2000, 5003}) {
      Generator g(R);
      const Tensor x = rand({64, R}, {.dtype = DType::F32}, &g) * 4.0 - 2.0;
      const auto got = sum(x, {1}).to_vector(), want = sum(x.to(DType::F64), {1}).to_vector();
      double worst = 0;
      for (size_t i = 0; i < got.size(); ++i)
        worst = std::max(
            worst, std::fabs(got[i] - want[i]) / (std::ldexp(std::fabs(want[i]), -24) + 1e-12));
      INFO("R " << R << ": worst error in half-ulps of the float64 sum " << worst);
      CHECK(worst <= 1.0001);
    }
  }
}  // TEST_SUITE
