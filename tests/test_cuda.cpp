// GPU tests: run where a device exists, otherwise print why they were skipped.
#include "helpers.h"

#ifdef NG_HAS_CUDA
#include "normgrad/cuda.h"
#endif

using namespace ngt;

TEST_SUITE("cuda") {
  TEST_CASE("host <-> device round trip and fill on the GPU") {
#ifndef NG_HAS_CUDA
    MESSAGE("skipped: normgrad was built without the CUDA backend (NG_CUDA=OFF or no nvcc)");
#else
    CHECK(has_backend(Device::CUDA));
    if (!cuda::is_available()) {
      MESSAGE("skipped: CUDA backend built, but no usable GPU here (" << cuda::unavailable_reason()
                                                                      << ")");
      return;
    }
    Tensor x = arange(10).reshape({2, 5});
    Tensor d = x.to(Device::CUDA);
    CHECK(d.device() == Device::CUDA);
    CHECK(d.to(Device::CPU).to_vector() == x.to_vector());
    Tensor z = full({1000}, 3.0, {.device = Device::CUDA});
    CHECK(z.to(Device::CPU).sum().item() == 3000);
    CHECK(d.at({1, 4}) == 9);
    CHECK_THROWS_WITH_AS(exp(d), doctest::Contains("no CUDA implementation"), Error);
#endif
  }

}  // TEST_SUITE
