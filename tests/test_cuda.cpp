// GPU tests: every op and norm against the CPU backend (values and gradients, odd sizes,
// non-contiguous views), gradcheck in float64 on the GPU, a GPT training run on both
// devices, allocator reuse and error messages. Without a device each case prints why it
// was skipped.
#include <filesystem>
#include <fstream>
#include <functional>

#include "../cuda/src/offsets.h"
#include "cli_helpers.h"
#include "gpu_ready.h"
#include "helpers.h"
#include "kind_table.h"
#include "normgrad/nn/gpt.h"
#include "normgrad/optim/optimizer.h"
#include "normgrad/report/compare.h"
#include "normgrad/train/train.h"

#ifdef NG_HAS_CUDA
#include "normgrad/cuda.h"
#endif

using namespace ngt;

namespace {

Tensor to_gpu_leaf(const Tensor& t) {
  Tensor g = t.detach().to(Device::CUDA);
  if (t.requires_grad()) g.requires_grad_();
  return g;
}

// The worst |got - want| / (atol + rtol |want|) over the elements: <= 1 passes (the usual
// allclose). atol is the absolute floor where values cancel to ~0 (tanh' at large |x|, sums
// over a dim, GELU' near its zero): two float32 reductions in different orders differ by a
// few ulps of the terms' magnitude, not of the result's.
double tolerance_ratio(const Tensor& got, const Tensor& want, double rtol, double atol) {
  const auto a = got.to_vector(), b = want.to_vector();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    if (std::isnan(a[i]) || a[i] == b[i]) continue;
    worst = std::max(worst, std::fabs(a[i] - b[i]) / (atol + rtol * std::fabs(b[i])));
  }
  return worst;
}

// Runs f on CPU inputs and on GPU copies; compares the outputs and, for floating outputs,
// the gradients of sum(out * w) with a fixed random w w.r.t. every input that requires grad.
void parity(const std::string& name, const std::function<Tensor(const TensorList&)>& f,
            const TensorList& cpu_in, double rtol = 2e-5, double atol = 1e-6) {
  INFO("op: " << name);
  TensorList gpu_in;
  for (const auto& t : cpu_in) gpu_in.push_back(to_gpu_leaf(t));
  const Tensor yc = f(cpu_in), yg = f(gpu_in);
  REQUIRE(yg.device() == Device::CUDA);
  REQUIRE(yc.shape() == yg.shape());
  REQUIRE(yc.dtype() == yg.dtype());
  const double ev = tolerance_ratio(yg.to(Device::CPU), yc, rtol, atol);
  INFO("value error / tolerance " << ev);
  CHECK(ev <= 1);
  if (!is_floating(yc.dtype()) || !yc.requires_grad()) return;
  Generator gen(7);
  const Tensor w = randn(yc.shape(), {.dtype = yc.dtype()}, &gen);
  TensorList wants, gots;
  for (size_t i = 0; i < cpu_in.size(); ++i)
    if (cpu_in[i].requires_grad()) {
      wants.push_back(cpu_in[i]);
      gots.push_back(gpu_in[i]);
    }
  const TensorList gc = autograd::grad({sum(yc * w)}, wants, {}, false, std::nullopt, true);
  const TensorList gg =
      autograd::grad({sum(yg * w.to(Device::CUDA))}, gots, {}, false, std::nullopt, true);
  for (size_t i = 0; i < gc.size(); ++i) {
    CHECK(gc[i].defined() == gg[i].defined());
    if (!gc[i].defined() || !gg[i].defined()) continue;
    const double eg = tolerance_ratio(gg[i].to(Device::CPU), gc[i], rtol, atol);
    INFO("gradient " << i << " error / tolerance " << eg);
    CHECK(eg <= 1);
  }
}

Tensor leaf(const Shape& s, uint64_t seed, double lo = -2, double hi = 2, DType dt = DType::F32) {
  Generator g(seed);
  return (rand(s, {.dtype = dt}, &g) * (hi - lo) + lo).detach().requires_grad_();
}

}  // namespace

TEST_SUITE("cuda") {
  // Host-side: the index arithmetic every strided CUDA kernel relies on, checked against
  // the naive multi-index walk (runs everywhere, GPU or not).
  TEST_CASE("OffsetCalc: coalesced offsets equal the naive strided walk") {
    const Tensor base = arange(4 * 6 * 5 * 3).reshape({4, 6, 5, 3});
    const std::vector<Tensor> views = {
        base,
        base.permute({2, 0, 3, 1}),
        base.slice(1, 1, 6, 2).transpose(0, 3),
        base.select(2, 1).unsqueeze(1).expand({4, 7, 6, 3}),
        base.narrow(3, 1, 1),
        base.reshape({120, 3}).t(),
        arange(1).reshape({}),
    };
    for (size_t v = 0; v < views.size(); ++v) {
      const Tensor& a = views[v];
      const Tensor b = a.contiguous();  // a second operand with other strides
      INFO("view " << v << " shape " << shape_str(a.shape()) << " strides "
                   << shape_str(a.strides()));
      const auto oc = cuda::make_offsets<2>(a.shape(), {&a.strides(), &b.strides()}, "test");
      CHECK(oc.ndim <= a.dim());
      const int64_t n = a.numel();
      int64_t bad = 0;
      for (int64_t lin = 0; lin < n; ++lin) {
        int64_t want_a = 0, want_b = 0, rem = lin;
        for (int64_t d = a.dim() - 1; d >= 0; --d) {
          const int64_t i = rem % a.size(d);
          rem /= a.size(d);
          want_a += i * a.stride(d);
          want_b += i * b.stride(d);
        }
        int64_t off[2];
        oc.get(lin, off);
        bad += off[0] != want_a || off[1] != want_b;
      }
      CHECK(bad == 0);
      CHECK(cuda::is_flat(oc) == (a.is_contiguous() || n <= 1));
    }
    // too many dims that cannot merge is a named error, not a silent wrong walk
    Shape big(12, 2), st(12);
    for (int d = 0; d < 12; ++d) st[d] = int64_t(1) << (2 * (11 - d) + 1);
    CHECK_THROWS_WITH_AS((cuda::make_offsets<1>(big, {&st}, "copy")),
                         doctest::Contains("[copy] a view with 12 non-mergeable dims"), Error);
  }

  TEST_CASE("host <-> device round trip, fill, memory statistics") {
    if (!gpu_ready()) return;
#ifdef NG_HAS_CUDA
    MESSAGE("device: " << cuda::device_description());
    Tensor x = arange(10).reshape({2, 5});
    Tensor d = x.to(Device::CUDA);
    CHECK(d.device() == Device::CUDA);
    CHECK(d.to(Device::CPU).to_vector() == x.to_vector());
    Tensor z = full({1000}, 3.0, {.device = Device::CUDA});
    CHECK(sum(z).item() == 3000);
    CHECK(d.at({1, 4}) == 9);
    d.set({0, 1}, 42);
    CHECK(d.at({0, 1}) == 42);
    const auto before = cuda::memory_stats();
    { Tensor big = empty({1 << 20}, {.device = Device::CUDA}); }
    { Tensor again = empty({1 << 20}, {.device = Device::CUDA}); }
    const auto after = cuda::memory_stats();
    CHECK(after.device_allocs <= before.device_allocs + 1);  // the second reused the first
    CHECK(after.reuses >= before.reuses + 1);
    CHECK(after.peak >= (size_t)4 << 20);
    CHECK(after.reserved == after.in_use + after.cached);
    // printing a GPU tensor goes through the host
    CHECK(d.str().find("device='cuda'") != std::string::npos);
#endif
  }

  TEST_CASE("uploads through the pinned ring: contents, laps, sizes over the ring, no waits") {
    if (!gpu_ready()) return;
#ifdef NG_HAS_CUDA
    // 1000 small uploads queued behind nothing: none waits for the GPU
    cuda::synchronize();
    const uint64_t before = cuda::host_syncs();
    std::vector<Tensor> small;
    for (int i = 0; i < 1000; ++i)
      small.push_back(
          from_vector(std::vector<double>{(double)i, i + 0.5}, {2}, {.device = Device::CUDA}));
    CHECK(cuda::host_syncs() == before);
    for (int i = 0; i < 1000; i += 97)
      CHECK(small[i].to_vector() == std::vector<double>{(double)i, i + 0.5});
    // 6 MiB, then 3 MiB (starts a new lap over the first one's bytes), then 20 MiB (more
    // than the 8 MiB ring): each arrives intact
    for (int64_t n : {int64_t(6) << 18, int64_t(3) << 18, int64_t(20) << 18}) {
      Generator g(n);
      const Tensor host = randn({n}, {.dtype = DType::F32}, &g);
      CHECK(host.to(Device::CUDA).to_vector() == host.to_vector());
    }
#endif
  }

  TEST_CASE("clear errors: mixed devices, out of memory, bad indices") {
    if (!gpu_ready()) return;
    const Tensor a = ones({3}), b = ones({3}, {.device = Device::CUDA});
    CHECK_THROWS_WITH_AS(a + b, doctest::Contains("device mismatch: cpu vs cuda"), Error);
    CHECK_THROWS_WITH_AS(matmul(ones({2, 2}), ones({2, 2}, {.device = Device::CUDA})),
                         doctest::Contains("device"), Error);
    CHECK_THROWS_WITH_AS(empty({int64_t(1) << 42}, {.device = Device::CUDA}),
                         doctest::Contains("out of memory asking for 17592186044416 bytes"), Error);
    const Tensor w = ones({5, 3}, {.device = Device::CUDA});
    const Tensor idx =
        from_vector(std::vector<int64_t>{1, 7}, {2}, {.dtype = DType::I64, .device = Device::CUDA});
    // a kernel finds it (no host wait per op); it surfaces at the next read of the GPU
    CHECK_THROWS_WITH_AS(embedding(w, idx).to_vector(),
                         doctest::Contains("[index_select] index 7 (element 1 of the index tensor) "
                                           "is out of range for a dimension of size 5"),
                         Error);
    // CPU indices into a GPU tensor: the op and both devices named, before any copy
    const Tensor cpu_idx = from_vector(std::vector<int64_t>{1, 2}, {2}, {.dtype = DType::I64});
    CHECK_THROWS_WITH_AS(embedding(w, cpu_idx),
                         doctest::Contains("[embedding] device mismatch: indices [2] on cpu"),
                         Error);
    CHECK_THROWS_WITH_AS(cross_entropy(w.slice(0, 0, 2), cpu_idx),
                         doctest::Contains("device mismatch"), Error);
    // the device still works after the refused calls
    CHECK(sum(b).item() == 3);
  }

  TEST_CASE("bad indices: found by the kernels, thrown at the next wait, named, then cleared") {
    if (!gpu_ready()) return;
#ifdef NG_HAS_CUDA
    const TensorOptions i64{.dtype = DType::I64, .device = Device::CUDA};
    const Tensor x = ones({4, 6}, {.device = Device::CUDA});
    const Tensor bad = from_vector(std::vector<int64_t>{0, 2, -1}, {3}, i64);
    const Tensor bad2d = from_vector(std::vector<int64_t>{0, 1, 9, 2}, {4, 1}, i64);
    auto expect = [](const std::function<Tensor()>& f, const std::string& what) {
      INFO(what);
      cuda::synchronize();
      const uint64_t before = cuda::host_syncs();
      Tensor out;
      CHECK_NOTHROW(out = f());  // queued: no wait, no throw yet
      CHECK(cuda::host_syncs() == before);
      CHECK_THROWS_WITH_AS(cuda::synchronize(), doctest::Contains(what.c_str()), Error);
      CHECK_NOTHROW(cuda::synchronize());  // reported once, then cleared
    };
    expect([&] { return index_select(x, 0, bad); }, "[index_select] index -1 (element 2");
    expect(
        [&] {
          return index_add(x, 0, bad, ones({3, 6}, {.device = Device::CUDA}));
        },
        "[index_add] index -1 (element 2");
    expect([&] { return gather(x, 1, bad2d); }, "[gather] index 9 (element 2");
    expect(
        [&] {
          return scatter_add(x, 1, bad2d, ones({4, 1}, {.device = Device::CUDA}));
        },
        "[scatter_add] index 9 (element 2");
    const Tensor targets = from_vector(std::vector<int64_t>{1, -100, 6, 0}, {4}, i64);
    expect([&] { return cross_entropy(x, targets, -100); },
           "[cross_entropy] index 6 (element 2 of the index tensor) is out of range for a "
           "dimension of size 6");
    // the ignored target is fine; the device works after the errors
    const Tensor ok = from_vector(std::vector<int64_t>{1, -100, 5, 0}, {4}, i64);
    CHECK(cross_entropy(x, ok, -100).item() == doctest::Approx(std::log(6.0)));
#endif
  }

  TEST_CASE("a GPT training step waits for the GPU only when its loss is read") {
    if (!gpu_ready()) return;
#ifdef NG_HAS_CUDA
    for (const std::string& norm : nn::norm_kinds()) {
      INFO(norm);
      nn::GPTConfig c;
      c.vocab = 29, c.n_layer = 2, c.n_embd = 64, c.n_head = 4, c.block_size = 32;
      c.norm = norm;
      nn::GPT m(c);
      m.to(Device::CUDA);
      optim::AdamW opt(optim::default_groups(m.named_parameters(), 0.1), 1e-3);
      Generator gen(1);
      auto step = [&] {  // what `normgrad train` queues on a GPU between readouts
        const Tensor idx = randint(0, 29, {8, 32}, {.dtype = DType::I64}, &gen).to(Device::CUDA);
        const Tensor tgt = randint(0, 29, {8, 32}, {.dtype = DType::I64}, &gen).to(Device::CUDA);
        const Tensor loss = m.loss(idx, tgt);
        opt.zero_grad();
        loss.backward();
        optim::clip_grads_to(m.parameters(), 1.0, optim::grad_norm_tensor(m.parameters()));
        opt.step();
        return loss;
      };
      step().item();  // warm-up: optimizer state, caches
      const uint64_t before = cuda::host_syncs();
      Tensor last;
      for (int i = 0; i < 5; ++i) last = step();
      const uint64_t queued = cuda::host_syncs() - before;
      MESSAGE(norm << ": host waits in 5 queued training steps: " << queued);
      CHECK(queued == 0);
      CHECK(std::isfinite(last.item()));
      CHECK(cuda::host_syncs() - before == 1);  // the readout
    }
#endif
  }

  TEST_CASE("unary and binary ops match the CPU, with broadcasting and strided views") {
    if (!gpu_ready()) return;
    using F = std::function<Tensor(const Tensor&)>;
    const std::vector<std::pair<std::string, F>> unary = {
        {"neg", [](const Tensor& x) { return -x; }},
        {"exp", [](const Tensor& x) { return exp(x); }},
        {"log", [](const Tensor& x) { return log(abs(x) + 0.1); }},
        {"sqrt", [](const Tensor& x) { return sqrt(abs(x) + 0.1); }},
        {"rsqrt", [](const Tensor& x) { return rsqrt(abs(x) + 0.1); }},
        {"abs", [](const Tensor& x) { return abs(x); }},
        {"sign", [](const Tensor& x) { return sign(x); }},
        {"square", [](const Tensor& x) { return square(x); }},
        {"tanh", [](const Tensor& x) { return tanh(x * 3.0); }},
        {"sigmoid", [](const Tensor& x) { return sigmoid(x * 3.0); }},
        {"relu", [](const Tensor& x) { return relu(x); }},
        {"gelu", [](const Tensor& x) { return gelu(x * 3.0); }},
        {"gelu_tanh", [](const Tensor& x) { return gelu(x * 3.0, GeluApprox::Tanh); }},
        {"silu", [](const Tensor& x) { return silu(x); }},
        {"erf", [](const Tensor& x) { return erf(x); }},
        {"softplus", [](const Tensor& x) { return softplus(x * 15.0); }},
        {"pow", [](const Tensor& x) { return pow(abs(x) + 0.5, 1.7); }},
        {"pow2", [](const Tensor& x) { return pow(x, 2.0); }},
        {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.7); }},
        {"scalars", [](const Tensor& x) { return (2.0 - x) * 3.0 + 1.0 + 1.0 / (abs(x) + 1.0); }},
    };
    // odd sizes; contiguous, transposed, and strided-slice views of the same leaf
    const Tensor x = leaf({37, 53}, 1);
    for (const auto& [name, f] : unary) {
      parity(name, [&](const TensorList& in) { return f(in[0]); }, {x});
      parity(name + " (transposed)", [&](const TensorList& in) { return f(in[0].t()); }, {x});
      parity(name + " (step slice)",
             [&](const TensorList& in) { return f(in[0].slice(1, 1, 50, 3)); }, {x});
    }
    using G = std::function<Tensor(const Tensor&, const Tensor&)>;
    const std::vector<std::pair<std::string, G>> binary = {
        {"add", [](const Tensor& a, const Tensor& b) { return a + b; }},
        {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }},
        {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }},
        {"div", [](const Tensor& a, const Tensor& b) { return a / (abs(b) + 0.5); }},
        {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
        {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
        {"compare",
         [](const Tensor& a, const Tensor& b) {
           return gt(a, b) + lt(a, b) * 2.0 + ge(a, b) * 4.0 + le(a, b) * 8.0 + eq(a, a) * 16.0 +
                  ne(a, b) * 32.0;
         }},
        {"where", [](const Tensor& a, const Tensor& b) { return where(gt(a, b), a, b * 2.0); }},
        {"masked_fill",
         [](const Tensor& a, const Tensor& b) { return masked_fill(a, gt(b, 0.5 + 0 * b), -3.0); }},
    };
    const Tensor a = leaf({6, 1, 29}, 2), b = leaf({5, 29}, 3), c = leaf({29, 5}, 4);
    for (const auto& [name, f] : binary) {
      parity(name + " (broadcast)", [&](const TensorList& in) { return f(in[0], in[1]); }, {a, b});
      parity(name + " (transposed operand)",
             [&](const TensorList& in) { return f(in[0], in[1].t()); }, {a, c});
    }
  }

  TEST_CASE("reductions, softmax, cross-entropy match the CPU") {
    if (!gpu_ready()) return;
    const Tensor x = leaf({7, 33, 19}, 5);
    for (bool keep : {false, true}) {
      for (const Dims& d : std::vector<Dims>{{}, {0}, {1}, {2}, {0, 2}, {1, 2}}) {
        const std::string tag = " dims " + shape_str(d) + (keep ? " keepdim" : "");
        parity("sum" + tag, [&](const TensorList& in) { return sum(in[0], d, keep); }, {x});
        parity("mean" + tag, [&](const TensorList& in) { return mean(in[0], d, keep); }, {x});
        parity("var" + tag, [&](const TensorList& in) { return var(in[0], d, 1, keep); }, {x});
        parity("max" + tag, [&](const TensorList& in) { return max(in[0], d, keep); }, {x});
        parity("min" + tag, [&](const TensorList& in) { return min(in[0], d, keep); }, {x});
        parity("sum of permuted view" + tag,
               [&](const TensorList& in) {
                 return sum(in[0].permute({2, 0, 1}), d, keep);
               },
               {x});
      }
      for (int64_t dim : {0, 1, 2}) {
        parity("argmax", [&](const TensorList& in) { return argmax(in[0], dim, keep); }, {x});
        parity("argmin", [&](const TensorList& in) { return argmin(in[0], dim, keep); }, {x});
      }
    }
    // long rows (block per output), a huge single sum (split into chunks), ties and NaN
    const Tensor big = leaf({3, 5000}, 6), huge = leaf({300001}, 7);
    parity("sum long rows", [](const TensorList& in) { return sum(in[0], {1}); }, {big});
    parity("max long rows", [](const TensorList& in) { return max(in[0], {1}); }, {big});
    parity(
        "sum of 300001", [](const TensorList& in) { return sum(in[0]); }, {huge}, 1e-4);
    parity("argmax of 300001", [](const TensorList& in) { return argmax(in[0], 0); }, {huge});
    const Tensor ties = from_vector(std::vector<double>{1, 3, 3, 0, NAN, 2, NAN, 5}, {2, 4});
    for (int64_t dim : {0, 1}) {
      parity("argmax ties/NaN", [&](const TensorList& in) { return argmax(in[0], dim); }, {ties});
      parity("max NaN", [&](const TensorList& in) { return max(in[0], {dim}); }, {ties});
    }
    for (int64_t dim : {0, 1, 2}) {
      parity("softmax dim " + std::to_string(dim),
             [&](const TensorList& in) { return softmax(in[0] * 3.0, dim); }, {x});
      parity("log_softmax dim " + std::to_string(dim),
             [&](const TensorList& in) { return log_softmax(in[0] * 3.0, dim); }, {x});
    }
    parity("softmax of 3000-long rows", [](const TensorList& in) { return softmax(in[0], 1); },
           {leaf({4, 3000}, 8)});
    const Tensor masked = leaf({5, 9}, 9);
    parity("softmax with -inf",
           [](const TensorList& in) {
             const Tensor m =
                 from_vector(std::vector<double>(45, 0.0), {5, 9}, {.device = in[0].device()});
             return softmax(masked_fill(in[0], gt(in[0], 0.5 + m), -INFINITY), 1);
           },
           {masked});
    // column sums (contiguous outputs: the bias gradient), with split row chunks, strided
    parity(
        "sum dim 0 of [3000, 384]", [](const TensorList& in) { return sum(in[0], {0}); },
        {leaf({3000, 384}, 14)}, 1e-4);
    parity("sum dims {0, 1} of [3, 333, 65]",
           [](const TensorList& in) {
             return sum(in[0], {0, 1});
           },
           {leaf({3, 333, 65}, 15)});
    parity("sum dim 1 of a transposed [70, 500]",
           [](const TensorList& in) { return sum(in[0].t(), {1}); }, {leaf({500, 70}, 16)});
    parity("mean dim 0 of [40, 33]", [](const TensorList& in) { return mean(in[0], {0}); },
           {leaf({40, 33}, 17)});
    // a block per output without splitting (many outputs, rows over 1024)
    parity("sum of [700, 2000] dim 1", [](const TensorList& in) { return sum(in[0], {1}); },
           {leaf({700, 2000}, 18)});
    {
      // Decided against float64: the first GPU run found the two devices 5.4x the tolerance
      // apart here. Each device must now give the float64 sum correctly rounded to float32
      // (both accumulate in double; the CPU used to add 32-term lanes in float32).
      const Tensor x = leaf({700, 2000}, 18).detach();
      const auto want = sum(x.to(DType::F64), {1}).to_vector();
      for (const Tensor& got : {sum(x, {1}), sum(x.to(Device::CUDA), {1}).to(Device::CPU)}) {
        const auto g = got.to_vector();
        double worst = 0;
        for (size_t i = 0; i < g.size(); ++i)
          worst = std::max(
              worst, std::fabs(g[i] - want[i]) / (std::ldexp(std::fabs(want[i]), -24) + 1e-12));
        INFO("worst error in units of half an ulp of the float64 sum: " << worst);
        CHECK(worst <= 1.0001);
      }
    }
    parity("max of [700, 2000] dim 1", [](const TensorList& in) { return max(in[0], {1}); },
           {leaf({700, 2000}, 19)});
    // a row that is all -inf: NaN on both devices (0/0), its neighbours unaffected
    parity("softmax with an all -inf row",
           [](const TensorList& in) {
             std::vector<double> rows(120, 0.0);
             std::fill(rows.begin() + 40, rows.begin() + 80, 1.0);  // row 1
             const Tensor mask = from_vector(rows, {3, 40}, {.device = in[0].device()});
             return softmax(masked_fill(in[0], mask, -INFINITY), 1);
           },
           {leaf({3, 40}, 20)});
    const Tensor logits = leaf({13, 11}, 10, -4, 4);
    std::vector<int64_t> tv = {0, 3, 10, 2, -100, 5, 5, 1, 9, 7, 4, 6, 8};
    for (const char* red : {"mean", "sum", "none"})
      parity(std::string("cross_entropy ") + red,
             [&](const TensorList& in) {
               const Tensor t =
                   from_vector(tv, {13}, {.dtype = DType::I64, .device = in[0].device()});
               const Reduction r = std::string(red) == "mean"  ? Reduction::Mean
                                   : std::string(red) == "sum" ? Reduction::Sum
                                                               : Reduction::None;
               return cross_entropy(in[0], t, -100, r);
             },
             {logits});
  }

  TEST_CASE("float64 on the GPU matches the CPU to ~1e-12, outside gradcheck too") {
    if (!gpu_ready()) return;
    auto l64 = [](const Shape& s, uint64_t seed) { return leaf(s, seed, -2, 2, DType::F64); };
    const double rtol = 1e-12, atol = 1e-13;
    parity(
        "matmul f64", [](const TensorList& in) { return matmul(in[0], in[1]); },
        {l64({17, 23}, 70), l64({23, 9}, 71)}, rtol, atol);
    parity(
        "sum dim 0 f64", [](const TensorList& in) { return sum(in[0], {0}); }, {l64({300, 70}, 72)},
        rtol, atol);
    parity(
        "log_softmax f64", [](const TensorList& in) { return log_softmax(in[0], 1); },
        {l64({9, 300}, 73)}, rtol, atol);
    parity(
        "layer_norm f64", [](const TensorList& in) { return layer_norm(in[0], in[1], in[2]); },
        {l64({6, 65}, 74), l64({65}, 75), l64({65}, 76)}, rtol, atol);
    parity(
        "rms_norm f64", [](const TensorList& in) { return rms_norm(in[0], in[1]); },
        {l64({6, 65}, 77), l64({65}, 78)}, rtol, atol);
    parity(
        "gelu f64", [](const TensorList& in) { return gelu(in[0]); }, {l64({1000}, 79)}, rtol,
        atol);
    parity(
        "causal_self_attention f64",
        [](const TensorList& in) { return causal_self_attention(in[0], 3); },
        {l64({2, 40, 18}, 80)}, rtol, atol);
  }

  TEST_CASE("matmul through cuBLAS: shapes, transposed views, batch broadcasting") {
    if (!gpu_ready()) return;
    const Tensor a = leaf({17, 23}, 11), b = leaf({23, 9}, 12), bt = leaf({9, 23}, 13);
    parity(
        "2-d", [](const TensorList& in) { return matmul(in[0], in[1]); }, {a, b}, 1e-4);
    parity(
        "A B^T view", [](const TensorList& in) { return matmul(in[0], in[1].t()); }, {a, bt}, 1e-4);
    parity(
        "A^T view", [](const TensorList& in) { return matmul(in[0].t(), in[1]); },
        {leaf({23, 17}, 14), b}, 1e-4);
    parity(
        "vector", [](const TensorList& in) { return matmul(in[0], in[1]); }, {leaf({23}, 15), b},
        1e-4);
    const Tensor q = leaf({2, 3, 11, 8}, 16), k = leaf({2, 3, 13, 8}, 17);
    parity(
        "batched q k^T",
        [](const TensorList& in) { return matmul(in[0], in[1].transpose(-2, -1)); }, {q, k}, 1e-4);
    parity(
        "batch broadcast", [](const TensorList& in) { return matmul(in[0], in[1]); },
        {leaf({4, 1, 6, 5}, 18), leaf({3, 5, 7}, 19)}, 1e-4);
    parity(
        "permuted batch (no single batch stride)",
        [](const TensorList& in) {
          return matmul(in[0].permute({1, 0, 2, 3}), in[1]);
        },
        {leaf({3, 2, 6, 5}, 20), leaf({2, 3, 5, 4}, 21)}, 1e-4);
    parity(
        "step-sliced operand",
        [](const TensorList& in) { return matmul(in[0].slice(1, 0, 23, 2), in[1]); },
        {a, leaf({12, 5}, 22)}, 1e-4);
  }

  TEST_CASE("bf16 matmuls (cublasGemmEx, float32 accumulation) equal the CPU's bf16 products") {
    if (!gpu_ready()) return;
    const MatmulPrecisionScope bf16(MatmulPrecision::BF16);  // both devices round operands
    const Tensor a = leaf({17, 23}, 31), b = leaf({23, 9}, 32), bt = leaf({9, 23}, 33);
    parity(
        "bf16 2-d", [](const TensorList& in) { return matmul(in[0], in[1]); }, {a, b}, 1e-4);
    parity(
        "bf16 A B^T view", [](const TensorList& in) { return matmul(in[0], in[1].t()); }, {a, bt},
        1e-4);
    parity(
        "bf16 batch broadcast", [](const TensorList& in) { return matmul(in[0], in[1]); },
        {leaf({4, 1, 6, 5}, 34), leaf({3, 5, 7}, 35)}, 1e-4);
    parity(
        "bf16 linear with bias", [](const TensorList& in) { return linear(in[0], in[1], in[2]); },
        {leaf({2, 5, 23}, 36), leaf({9, 23}, 37), leaf({9}, 38)}, 1e-4);
  }

  TEST_CASE("indexing, joining and dropout match the CPU") {
    if (!gpu_ready()) return;
    const std::vector<int64_t> iv = {3, 0, 3, 7, 1, 3, 7, 2, 0};
    auto idx = [&](const Tensor& like) {
      return from_vector(iv, {(int64_t)iv.size()}, {.dtype = DType::I64, .device = like.device()});
    };
    const Tensor w = leaf({8, 13}, 23);
    parity("embedding (repeated ids)",
           [&](const TensorList& in) { return embedding(in[0], idx(in[0])); }, {w});
    parity("index_select dim 1",
           [&](const TensorList& in) { return index_select(in[0], 1, idx(in[0])); },
           {leaf({5, 8, 3}, 24)});
    parity("index_add",
           [&](const TensorList& in) { return index_add(in[0], 0, idx(in[0]), in[1]); },
           {leaf({8, 6}, 25), leaf({9, 6}, 26)});
    const std::vector<int64_t> gv = {2, 0, 1, 1, 4, 3, 0, 0, 2, 4, 4, 1};
    auto gidx = [&](const Tensor& like) {
      return from_vector(gv, {4, 3}, {.dtype = DType::I64, .device = like.device()});
    };
    parity("gather dim 1", [&](const TensorList& in) { return gather(in[0], 1, gidx(in[0])); },
           {leaf({4, 5}, 27)});
    parity("scatter_add dim 1 (collisions)",
           [&](const TensorList& in) { return scatter_add(in[0], 1, gidx(in[0]), in[1]); },
           {leaf({4, 5}, 28), leaf({4, 3}, 29)});
    parity("cat/stack/split",
           [](const TensorList& in) {
             const TensorList parts = split(in[0], 2, 1);
             return cat({stack({parts[0], parts[1]}, 0).reshape({-1, 2}), in[1].t()}, 0);
           },
           {leaf({5, 4}, 30), leaf({2, 7}, 31)});
    // dropout draws its mask on the host from the generator: same mask on both devices
    const Tensor x = leaf({10, 10}, 32);
    Generator g1(5), g2(5);
    const Tensor dc = dropout(x, 0.3, true, &g1), dg = dropout(to_gpu_leaf(x), 0.3, true, &g2);
    CHECK(tolerance_ratio(dg.to(Device::CPU), dc, 1e-6, 1e-7) <= 1);
  }

  TEST_CASE("fused norms: forward and backward match the CPU kernels and the composed formula") {
    if (!gpu_ready()) return;
    for (const Shape& s : std::vector<Shape>{{3, 7, 33}, {65, 128}, {40, 769}, {1, 5}}) {
      const std::string tag = std::string(" ").append(shape_str(s));
      for (const auto& kc : kind_cases()) {  // every registered kind (tests/kind_table.h)
        const TensorList in = kind_inputs(kc, DType::F32, s);
        parity(
            kc.name + tag, [&](const TensorList& v) { return kind_apply(kc, v, true); }, in, 1e-4,
            1e-5);
        // the GPU kernel against the composed formula, both on the GPU
        parity(
            kc.name + " fused vs composed on GPU" + tag,
            [&](const TensorList& v) { return kind_apply(kc, v, v[0].device() == Device::CUDA); },
            in, 1e-4, 1e-5);
      }
    }
  }

  TEST_CASE("fused causal self-attention on the GPU matches the CPU kernel") {
    if (!gpu_ready()) return;
#ifdef NG_HAS_CUDA
    // [B, T, 3C] with 3 heads, so head size D = 3C / 9. Every kernel instantiation (D up to
    // 16, 32, 64, 128), ragged last tiles (T = 7, 65, 130, 200), one row, several 64-row
    // tiles; D = 256 takes the cuBLAS path. float64 runs on 32-row tiles.
    const std::vector<Shape> shapes = {{2, 7, 18},     {3, 64, 576}, {1, 1, 9},    {2, 130, 288},
                                       {1, 200, 1152}, {1, 65, 900}, {1, 33, 2304}};
    for (const Shape& s : shapes)
      for (DType dt : {DType::F32, DType::F64}) {
        const std::string tag = shape_str(s) + (dt == DType::F64 ? " float64" : " float32");
        const double rtol = dt == DType::F64 ? 1e-10 : 1e-4, atol = dt == DType::F64 ? 1e-12 : 1e-5;
        parity(
            "causal_self_attention " + tag,
            [](const TensorList& in) { return causal_self_attention(in[0], 3); },
            {leaf(s, 60, -2, 2, dt)}, rtol, atol);
      }
    // the fused kernels against the cuBLAS path, both on the GPU: the "CPU" side of parity
    // runs the fused kernels (to_device is differentiable), the GPU side the cuBLAS path
    const Tensor x = leaf({2, 150, 576}, 61);
    parity(
        "fused vs cuBLAS attention on the GPU",
        [](const TensorList& in) {
          if (in[0].device() != Device::CUDA)
            return causal_self_attention(in[0].to(Device::CUDA), 3).to(Device::CPU);
          cuda::set_fused_attention(false);
          Tensor y;
          try {
            y = causal_self_attention(in[0], 3);
          } catch (...) {
            cuda::set_fused_attention(true);
            throw;
          }
          cuda::set_fused_attention(true);
          return y;
        },
        {x}, 1e-4, 1e-5);
#endif
  }

  TEST_CASE("fused attention: O(T) memory, bit-identical reruns, no host waits") {
    if (!gpu_ready()) return;
#ifdef NG_HAS_CUDA
    REQUIRE(cuda::fused_attention());
    const int64_t T = 4096;
    Generator gen(62);
    const Tensor qkv =
        (randn({1, T, 576}, {.dtype = DType::F32}, &gen) * 0.5).to(Device::CUDA).requires_grad_();
    const Tensor w = randn({1, T, 192}, {.dtype = DType::F32}, &gen).to(Device::CUDA);
    cuda::synchronize();
    const size_t base = cuda::memory_stats().in_use;
    cuda::reset_peak();
    const uint64_t waits = cuda::host_syncs();
    const TensorList g1 = autograd::grad({sum(causal_self_attention(qkv, 3) * w)}, {qkv});
    CHECK(cuda::host_syncs() == waits);  // queued: nothing read back yet
    cuda::synchronize();
    // one head's T x T float32 matrix is 64 MiB (the cuBLAS path keeps three); the fused
    // path's peak (y, y*w, its gradient, dqkv, row statistics) is about 30 MB
    const size_t grew = cuda::memory_stats().peak - base;
    MESSAGE("fused attention, T = 4096, 3 heads of 64: peak growth " << grew / 1e6 << " MB");
    CHECK(grew < (size_t)T * T * 4);
    const TensorList g2 = autograd::grad({sum(causal_self_attention(qkv, 3) * w)}, {qkv});
    CHECK(g1[0].to_vector() == g2[0].to_vector());
    CHECK(std::isfinite(sum(g1[0]).item()));
#endif
  }

  TEST_CASE("float64 gradcheck and gradgradcheck run on the GPU") {
    if (!gpu_ready()) return;
    auto g = [](const Shape& s, uint64_t seed) {
      return leaf(s, seed, -1, 1, DType::F64).detach().to(Device::CUDA).requires_grad_();
    };
    const Tensor x = g({4, 6}, 50), w = g({6}, 51), b = g({6}, 52), a = g({}, 53);
    expect_grad([](const TensorList& in) { return layer_norm(in[0], in[1], in[2]); }, {x, w, b});
    expect_grad([](const TensorList& in) { return dyt(in[0], in[1], in[2], in[3]); }, {x, a, w, b});
    expect_grad([](const TensorList& in) { return softmax(matmul(in[0], in[0].t()), 1); }, {x});
    expect_grad([](const TensorList& in) { return gelu(in[0]) * sum(in[0], {0}, true); }, {x});
    // the fused attention's float64 kernels (32-row tiles; T = 37 spans two of them)
    expect_grad([](const TensorList& in) { return causal_self_attention(in[0], 3); },
                {g({2, 37, 18}, 54)});
  }

  TEST_CASE("AdamW step on the GPU equals the CPU step") {
    if (!gpu_ready()) return;
    nn::GPTConfig c;
    c.vocab = 11;
    c.n_layer = 1;
    c.n_embd = 16;
    c.n_head = 2;
    c.block_size = 8;
    nn::GPT mc(c), mg(c), m64(c);
    mg.to(Device::CUDA);
    m64.to(DType::F64);
    Generator gen(3);
    const Tensor idx = randint(0, 11, {3, 8}, {.dtype = DType::I64}, &gen);
    const Tensor tgt = randint(0, 11, {3, 8}, {.dtype = DType::I64}, &gen);
    // The float64 reference decides what "equal" can mean: the key third of c_attn.bias
    // has an exactly zero gradient (every score of a query shifts by the same q.b_k, which
    // softmax ignores), so in float32 its gradient is rounding noise whose sign depends on
    // the summation order, and AdamW divides it by its own size: those entries move by up
    // to lr per step in a direction no two devices agree on (the first GPU run: 19x the
    // tolerance). Everything else must match; those entries must stay within Adam's bound.
    const double lr = 1e-2;
    const int steps = 3;
    optim::AdamW oc(optim::default_groups(mc.named_parameters(), 0.1), lr);
    optim::AdamW og(optim::default_groups(mg.named_parameters(), 0.1), lr);
    const auto before = mc.named_parameters();
    std::vector<Tensor> start;
    for (const auto& [n, p] : before) start.push_back(p.detach().clone());
    double key_bias_grad64 = 0, other_grad64 = 0;
    for (int step = 0; step < steps; ++step) {
      mc.loss(idx, tgt).backward();
      mg.loss(idx.to(Device::CUDA), tgt.to(Device::CUDA)).backward();
      if (step == 0) {
        m64.loss(idx, tgt).backward();
        for (const auto& [n, p] : m64.named_parameters()) {
          const Tensor gabs = abs(p.grad());
          if (n == "transformer.h.0.attn.c_attn.bias")
            key_bias_grad64 = max(gabs.narrow(0, c.n_embd, c.n_embd)).item();
          other_grad64 = std::max(other_grad64, max(gabs).item());
        }
      }
      oc.step();
      og.step();
      oc.zero_grad();
      og.zero_grad();
    }
    INFO("float64 |grad| of the key bias " << key_bias_grad64 << ", largest other "
                                           << other_grad64);
    CHECK(key_bias_grad64 <= 1e-12 * other_grad64);
    const auto pc = mc.named_parameters(), pg = mg.named_parameters();
    for (size_t i = 0; i < pc.size(); ++i) {
      INFO(pc[i].first);
      const Tensor got = pg[i].second.to(Device::CPU), want = pc[i].second;
      if (pc[i].first == "transformer.h.0.attn.c_attn.bias") {
        const int64_t C = c.n_embd;
        for (int64_t part : {0, 2})
          CHECK(tolerance_ratio(got.narrow(0, part * C, C), want.narrow(0, part * C, C), 1e-3,
                                1e-6) <= 1);
        // no decay on biases; Adam's step is at most lr (1 - beta1) / sqrt(1 - beta2)
        const double bound = steps * lr * 0.1 / std::sqrt(0.001) * (1 + 1e-6);
        for (const Tensor& p : {got, want})
          CHECK(max(abs(p.narrow(0, C, C) - start[i].narrow(0, C, C))).item() <= bound);
        continue;
      }
      CHECK(tolerance_ratio(got, want, 1e-3, 1e-6) <= 1);
    }
  }

  TEST_CASE("GPT training on the GPU follows the CPU run, for every norm kind") {
    if (!gpu_ready()) return;
    for (const std::string& norm : nn::norm_kinds()) {
      INFO(norm);
      nn::GPTConfig c;
      c.vocab = 23;
      c.n_layer = 2;
      c.n_embd = 32;
      c.n_head = 4;
      c.block_size = 16;
      c.norm = norm;
      nn::GPT mc(c), mg(c);
      mg.to(Device::CUDA);
      optim::AdamW oc(optim::default_groups(mc.named_parameters(), 0.1), 3e-3);
      optim::AdamW og(optim::default_groups(mg.named_parameters(), 0.1), 3e-3);
      Generator gen(11);
      for (int step = 0; step < 10; ++step) {
        const Tensor idx = randint(0, 23, {4, 16}, {.dtype = DType::I64}, &gen);
        const Tensor tgt = randint(0, 23, {4, 16}, {.dtype = DType::I64}, &gen);
        const Tensor lc = mc.loss(idx, tgt),
                     lg = mg.loss(idx.to(Device::CUDA), tgt.to(Device::CUDA));
        INFO("step " << step << " cpu " << lc.item() << " gpu " << lg.item());
        CHECK(std::fabs(lc.item() - lg.item()) <= 1e-4 * std::fabs(lc.item()));
        lc.backward();
        lg.backward();
        optim::clip_grad_norm(mc.parameters(), 1.0);
        optim::clip_grad_norm(mg.parameters(), 1.0);
        oc.step();
        og.step();
        oc.zero_grad();
        og.zero_grad();
      }
    }
  }

  TEST_CASE("two identical GPU training runs are bit-identical (no order-dependent atomics)") {
    if (!gpu_ready()) return;
    auto run = [] {
      nn::GPTConfig c;
      c.vocab = 23, c.n_layer = 2, c.n_embd = 32, c.n_head = 4, c.block_size = 16;
      c.norm = "dyisru";
      nn::GPT m(c);
      m.to(Device::CUDA);
      optim::AdamW opt(optim::default_groups(m.named_parameters(), 0.1), 3e-3);
      Generator gen(11);
      std::vector<double> losses;
      for (int step = 0; step < 8; ++step) {
        const Tensor idx = randint(0, 23, {4, 16}, {.dtype = DType::I64}, &gen).to(Device::CUDA);
        const Tensor tgt = randint(0, 23, {4, 16}, {.dtype = DType::I64}, &gen).to(Device::CUDA);
        Tensor loss = m.loss(idx, tgt);
        losses.push_back(loss.item());
        loss.backward();
        optim::clip_grad_norm(m.parameters(), 1.0);
        opt.step();
        opt.zero_grad();
      }
      for (auto& [n, p] : m.named_parameters())
        for (double v : p.to_vector()) losses.push_back(v);
      return losses;
    };
    CHECK(run() == run());  // exact equality: losses and every weight
  }

  TEST_CASE("normgrad train --device cuda follows the CPU run") {
    if (!gpu_ready()) return;
    ngcli::TrainConfig c;
    c.data = "cuda_test_corpus.txt";
    {
      std::ofstream f(c.data);
      for (int i = 0; i < 400; ++i)
        f << "line " << i << ": the quick brown fox jumps over " << (i * 7919 % 1000)
          << " lazy dogs, " << (i % 3 ? "twice" : "once") << ".\n";
    }
    c.quiet = true;
    c.n_layer = 2, c.n_head = 2, c.n_embd = 32, c.block_size = 32, c.batch = 8;
    c.max_steps = 30, c.warmup = 5, c.eval_interval = 30, c.eval_iters = 2, c.ckpt_interval = 30;
    c.out = "cuda_test_cpu";
    const auto rc = ngcli::train(c);
    c.out = "cuda_test_gpu";
    c.device = "cuda";
    const auto rg = ngcli::train(c);
    MESSAGE("30 steps: cpu val " << rc.final_val_loss << ", gpu val " << rg.final_val_loss);
    CHECK(std::fabs(rc.final_val_loss - rg.final_val_loss) <= 1e-3 * rc.final_val_loss);
    // the GPU run's checkpoint resumes on the CPU
    c.device = "cpu";
    c.resume = true;
    c.max_steps = 30;
    CHECK_NOTHROW(ngcli::train(c));
    std::filesystem::remove_all("cuda_test_cpu");
    std::filesystem::remove_all("cuda_test_gpu");
    std::filesystem::remove("cuda_test_corpus.txt");
  }

  TEST_CASE("normgrad compare --device cuda: the runs learn, the report is written") {
    if (!gpu_ready()) return;
    ngcli::TrainConfig c = tiny_cfg("unused");
    c.device = "cuda";
    c.max_steps = 30, c.eval_interval = 15, c.ckpt_interval = 15, c.probe_interval = 10;
    ngcli::CompareOptions o{.seeds = 1, .dir = "cuda_test_report", .jobs = 1};
    for (const char* v : {"layernorm:lr=0.01", "dyisru:scale=sqrtc,alpha0=2,lr=0.01"})
      o.variants.push_back(ngcli::parse_variant(v));
    const ngcli::CompareResult r = ngcli::compare(c, o);
    REQUIRE(r.runs.size() == 2);
    for (const auto& run : r.runs) {
      CAPTURE(run.variant);
      CAPTURE(run.evidence);
      CHECK(run.label == "learning");
    }
    CHECK(std::filesystem::exists("cuda_test_report/report.md"));
    std::filesystem::remove_all("cuda_test_report");
  }

  TEST_CASE("the caching allocator stops growing: 100 GPT training steps") {
    if (!gpu_ready()) return;
#ifdef NG_HAS_CUDA
    nn::GPTConfig c;
    c.vocab = 29;
    c.n_layer = 2;
    c.n_embd = 64;
    c.n_head = 4;
    c.block_size = 32;
    nn::GPT m(c);
    m.to(Device::CUDA);
    optim::AdamW opt(optim::default_groups(m.named_parameters(), 0.1), 1e-3);
    Generator gen(1);
    auto step = [&] {
      const Tensor idx = randint(0, 29, {8, 32}, {.dtype = DType::I64}, &gen).to(Device::CUDA);
      const Tensor tgt = randint(0, 29, {8, 32}, {.dtype = DType::I64}, &gen).to(Device::CUDA);
      const Tensor loss = m.loss(idx, tgt);
      loss.backward();
      optim::clip_grad_norm(m.parameters(), 1.0);
      opt.step();
      opt.zero_grad();
      return loss.item();
    };
    for (int i = 0; i < 3; ++i) step();  // optimizer state and the cache fill up
    const auto warm = cuda::memory_stats();
    double last = 0;
    for (int i = 0; i < 100; ++i) last = step();
    const auto end = cuda::memory_stats();
    MESSAGE("after warm-up: reserved " << warm.reserved << " B, cudaMalloc calls "
                                       << warm.device_allocs << "; after 100 more steps: reserved "
                                       << end.reserved << " B, cudaMalloc calls "
                                       << end.device_allocs << ", reuses " << end.reuses);
    CHECK(end.device_allocs == warm.device_allocs);
    CHECK(end.reserved == warm.reserved);
    CHECK(std::isfinite(last));
#endif
  }

}  // TEST_SUITE
