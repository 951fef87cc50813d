// Tensors: views sharing storage, layout, creation, RNG, dtype conversion, printing.
#include "helpers.h"

using namespace ngt;

TEST_SUITE("tensor") {
  TEST_CASE("views share storage and see writes") {
    Tensor t = arange(6).reshape({2, 3});
    Tensor v = t.t();
    CHECK(v.shape() == Shape{3, 2});
    CHECK_FALSE(v.is_contiguous());
    v.set({2, 1}, 42);
    CHECK(t.at({1, 2}) == 42);
    CHECK(t.narrow(1, 1, 2).at({1, 1}) == 42);
    CHECK(t.select(0, 1).to_vector() == std::vector<double>{3, 4, 42});
  }

  TEST_CASE("reshape views when it can and copies when it must") {
    Tensor t = arange(12).reshape({3, 4});
    Tensor r = t.reshape({2, 6});
    CHECK(r.impl()->storage == t.impl()->storage);
    Tensor tt = t.t();  // [4, 3] non-contiguous: flattening needs a copy
    Tensor f = tt.reshape({-1});
    CHECK(f.impl()->storage != t.impl()->storage);
    CHECK(f.to_vector() == std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    CHECK_THROWS_AS(tt.view({12}), Error);
    CHECK(tt.reshape({4, 3, 1}).impl()->storage == t.impl()->storage);  // adding a 1 is a view
  }

  TEST_CASE("permute, slice with step, expand, squeeze, unsqueeze") {
    Tensor t = arange(24).reshape({2, 3, 4});
    Tensor p = t.permute({2, 0, 1});
    CHECK(p.shape() == Shape{4, 2, 3});
    CHECK(p.at({3, 1, 2}) == t.at({1, 2, 3}));
    Tensor s = t.slice(2, 0, 4, 2);
    CHECK(s.shape() == Shape{2, 3, 2});
    CHECK(s.at({1, 1, 1}) == t.at({1, 1, 2}));
    Tensor e = tensor({1, 2, 3}).unsqueeze(0).expand({4, 3});
    CHECK(e.stride(0) == 0);
    CHECK(e.contiguous().to_vector() == std::vector<double>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3});
    CHECK(t.unsqueeze(1).shape() == Shape{2, 1, 3, 4});
    CHECK(t.unsqueeze(-1).shape() == Shape{2, 3, 4, 1});
    CHECK(t.unsqueeze(1).squeeze().shape() == Shape{2, 3, 4});
    CHECK(ones({1, 3, 1}).squeeze(0).shape() == Shape{3, 1});
  }

  TEST_CASE("creation functions") {
    CHECK(zeros({2, 2}).to_vector() == std::vector<double>(4, 0));
    CHECK(ones({3}).to_vector() == std::vector<double>(3, 1));
    CHECK(full({2}, 7.5).to_vector() == std::vector<double>{7.5, 7.5});
    CHECK(arange(1, 2, 0.25).to_vector() == std::vector<double>{1, 1.25, 1.5, 1.75});
    CHECK(scalar_tensor(3).dim() == 0);
    CHECK(scalar_tensor(3).item() == 3);
    CHECK(zeros({2}, {.dtype = DType::F64}).dtype() == DType::F64);
  }

  TEST_CASE("random generators are seedable and deterministic") {
    manual_seed(42);
    Tensor a = randn({1000});
    manual_seed(42);
    Tensor b = randn({1000});
    CHECK(a.to_vector() == b.to_vector());
    Generator g(7);
    Tensor big = randn({20000}, {.dtype = DType::F64}, &g);
    CHECK(mean(big).item() == doctest::Approx(0).epsilon(0.03).scale(1));
    CHECK(var(big).item() == doctest::Approx(1).epsilon(0.03));
    Tensor u = rand({10000}, {}, &g);
    CHECK(min(u).item() >= 0);
    CHECK(max(u).item() < 1);
    Tensor r = randint(3, 7, {1000}, {.dtype = DType::I64}, &g);
    for (double v : r.to_vector()) CHECK((v >= 3 && v < 7));
    CHECK(r.dtype() == DType::I64);
  }

  TEST_CASE("dtype conversion") {
    Tensor f = tensor({1.5, -2.75, 3.0});
    CHECK(f.dtype() == DType::F32);
    Tensor d = f.to(DType::F64);
    CHECK(d.dtype() == DType::F64);
    CHECK(d.to_vector() == std::vector<double>{1.5, -2.75, 3.0});
    CHECK(f.to(DType::I64).to_vector() == std::vector<double>{1, -2, 3});  // truncation
    CHECK(f.to(DType::F32).impl() == f.impl());
  }

  TEST_CASE("element access") {
    Tensor t = arange(6).reshape({2, 3});
    CHECK(t.at({1, -1}) == 5);
    CHECK_THROWS_AS(t.at({2, 0}), Error);
    CHECK_THROWS_AS(t.item(), Error);
    CHECK(t.sum().item() == 15);
  }

  TEST_CASE("printing follows PyTorch's repr") {
    CHECK(tensor({1, 2, 3}).str() == "tensor([1., 2., 3.])");
    CHECK(tensor({0.5, -1.25}).str() == "tensor([ 0.5000, -1.2500])");
    CHECK(arange(4).reshape({2, 2}).str() == "tensor([[0., 1.],\n        [2., 3.]])");
    CHECK(tensor({1, 2}, {.dtype = DType::F64}).str() == "tensor([1., 2.], dtype=float64)");
    CHECK(tensor({1e-6, 1.0}).str() == "tensor([1.0000e-06, 1.0000e+00])");
    CHECK(tensor({1}, {.requires_grad = true}).str() == "tensor([1.], requires_grad=True)");
    CHECK(scalar_tensor(2.5).str() == "tensor(2.5000)");
    CHECK(arange(3, {.dtype = DType::I64}).str() == "tensor([0, 1, 2])");
    Tensor x = tensor({1}, {.requires_grad = true});
    CHECK((x * 2.0).str() == "tensor([2.], grad_fn=<MulScalarBackward>)");
    CHECK(arange(2000).str().find("...") != std::string::npos);
    CHECK(arange(8).reshape({2, 2, 2}).str() ==
          "tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])");
  }

  TEST_CASE("broadcasting follows NumPy rules") {
    CHECK(broadcast_shapes({2, 1, 3}, {4, 1}, "t") == Shape{2, 4, 3});
    CHECK(broadcast_shapes({}, {3}, "t") == Shape{3});
    CHECK((ones({2, 1, 3}) + ones({4, 1})).shape() == Shape{2, 4, 3});
    CHECK_THROWS_WITH_AS(broadcast_shapes({2, 3}, {4}, "add"),
                         doctest::Contains("[add] shapes [2, 3] and [4] cannot be broadcast"),
                         Error);
  }

  TEST_CASE("threads and OpenBLAS share one setting") {
    const int before = num_threads();
    set_num_threads(1);
    CHECK(num_threads() == 1);
    CHECK(thread_config().find("threads: 1") != std::string::npos);
    set_num_threads(before);
  }

}  // TEST_SUITE
