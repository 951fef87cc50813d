// Bad input: exceptions whose messages name the op and the offending values.
#include "helpers.h"

using namespace ngt;

TEST_SUITE("errors") {
  TEST_CASE("shape, dtype and dim errors name the op and the shapes") {
    CHECK_THROWS_WITH_AS(ones({2, 3}) + ones({4}), doctest::Contains("[add] shapes [2, 3] and [4]"),
                         Error);
    CHECK_THROWS_WITH_AS(ones({2}) * ones({2}, {.dtype = DType::F64}),
                         doctest::Contains("[mul] dtype mismatch: float32 [2] vs float64 [2]"),
                         Error);
    CHECK_THROWS_WITH_AS(matmul(ones({2, 3}), ones({4, 5})),
                         doctest::Contains("[matmul] inner dims differ: [2, 3] @ [4, 5]"), Error);
    CHECK_THROWS_WITH_AS(sum(ones({2, 3}), {2}), doctest::Contains("[sum] dim 2 is out of range"),
                         Error);
    CHECK_THROWS_WITH_AS(ones({2, 3}).reshape({4, -1}),
                         doctest::Contains("[reshape] cannot reshape [2, 3]"), Error);
    CHECK_THROWS_WITH_AS(ones({2, 3}).permute({0, 0}),
                         doctest::Contains("[permute] dim 0 repeated"), Error);
    CHECK_THROWS_WITH_AS(cat({ones({2, 3}), ones({3, 3})}, 1),
                         doctest::Contains("[cat] tensor 1 has shape [3, 3]"), Error);
    CHECK_THROWS_WITH_AS(ones({2}).expand({3}),
                         doctest::Contains("[expand] cannot expand shape [2] to [3]"), Error);
  }

  TEST_CASE("index errors name the index and the size") {
    Tensor w = ones({5, 3});
    CHECK_THROWS_WITH_AS(
        index_select(w, 0, from_vector(std::vector<int64_t>{1, 7}, {2})),
        doctest::Contains("[index_select] index 7 is out of range for a dimension of size 5"),
        Error);
    CHECK_THROWS_WITH_AS(embedding(w, ones({2})),
                         doctest::Contains("[embedding] indices must be int64, got float32"),
                         Error);
    CHECK_THROWS_WITH_AS(
        cross_entropy(ones({2, 5}), from_vector(std::vector<int64_t>{1, 5}, {2})),
        doctest::Contains("[cross_entropy] target 5 at position 1 is out of range for 5 classes"),
        Error);
    CHECK_THROWS_WITH_AS(ones({2, 2}).at({0, 2}),
                         doctest::Contains("[at] index 2 is out of range for dim 1"), Error);
  }

  TEST_CASE("integer tensors in float ops, undefined tensors, bad values") {
    CHECK_THROWS_WITH_AS(exp(arange(3, {.dtype = DType::I64})),
                         doctest::Contains("[exp] expected a floating-point tensor, got int64"),
                         Error);
    CHECK_THROWS_WITH_AS(Tensor().shape(), doctest::Contains("undefined tensor"), Error);
    CHECK_THROWS_WITH_AS(dropout(ones({2}), 1.5, true),
                         doctest::Contains("[dropout] probability must be in [0, 1], got 1.5"),
                         Error);
    CHECK_THROWS_WITH_AS(clamp(ones({2}), 1.0, 0.0),
                         doctest::Contains("[clamp] min 1 is greater than max 0"), Error);
    CHECK_THROWS_WITH_AS(randint(5, 5, {2}), doctest::Contains("[randint] need low < high"), Error);
  }

  TEST_CASE("a device without a backend is a clear error") {
    if (has_backend(Device::CUDA)) {
      MESSAGE("CUDA backend is built in; the missing-backend message is not reachable here");
      return;
    }
    CHECK_THROWS_WITH_AS(ones({2}).to(Device::CUDA),
                         doctest::Contains("no backend for device 'cuda'"), Error);
  }

}  // TEST_SUITE
