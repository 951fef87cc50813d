// Safetensors: round trip, and a corpus of corrupt, truncated and hostile files that must
// all be rejected with an ng::Error (never a crash: the sanitizer build runs this too).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "helpers.h"
#include "normgrad/nn.h"

using namespace ngt;
using namespace ng::nn;

namespace {
std::vector<uint8_t> with_header(const std::string& header, size_t data_bytes = 0) {
  std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
  for (int i = 0; i < 8; ++i) out[i] = (uint8_t)((uint64_t)header.size() >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}
StateDict sample() {
  return {{"a.weight", arange(6).reshape({2, 3})},
          {"b", from_vector(std::vector<double>{1.5, -2.5}, {2}, {.dtype = DType::F64})},
          {"ids", arange(4, {.dtype = DType::I64})},
          {"scalar", scalar_tensor(3.25)},
          {"empty", zeros({0, 4})}};
}
}  // namespace

TEST_SUITE("safetensors") {
  TEST_CASE("round trip of every dtype, scalars, empty tensors and metadata") {
    const std::string path = "roundtrip_test.safetensors";
    save_safetensors(path, sample(), {{"config", "{\"n_layer\": 4}"}, {"step", "12"}});
    Safetensors f = load_safetensors(path);
    std::remove(path.c_str());
    for (auto& [name, t] : sample()) {
      CAPTURE(name);
      REQUIRE(f.tensors.count(name));
      CHECK(f.tensors[name].dtype() == t.dtype());
      CHECK(f.tensors[name].shape() == t.shape());
      CHECK(f.tensors[name].to_vector() == t.to_vector());
    }
    CHECK(f.metadata.at("step") == "12");
    CHECK(f.metadata.at("config") == "{\"n_layer\": 4}");
  }

  TEST_CASE("layout: header length, 8-byte aligned data, offsets in name order") {
    auto bytes = serialize_safetensors(sample());
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= (uint64_t)bytes[i] << (8 * i);
    CHECK(n % 8 == 0);
    const std::string header(bytes.begin() + 8, bytes.begin() + 8 + n);
    CHECK(header.find("\"a.weight\":{\"data_offsets\":[0,24],\"dtype\":\"F32\",\"shape\":[2,3]}") !=
          std::string::npos);
  }

  TEST_CASE("F16 and BF16 tensors (Hugging Face files) are read exactly, widened to F32") {
    // F16: 1, -2, 2^-24 (the smallest subnormal), 65504 (the largest), inf, -0
    const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x0001, 0x7BFF, 0x7C00, 0x8000};
    // BF16: 1, -3, 2^-133 (subnormal), 3.3895e38 (the largest)
    const std::vector<uint16_t> bf16 = {0x3F80, 0xC040, 0x0001, 0x7F7F};
    const std::string header =
        "{\"a\":{\"dtype\":\"F16\",\"shape\":[6],\"data_offsets\":[0,12]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[12,20]}}";
    auto bytes = with_header(header, 20);
    std::memcpy(bytes.data() + 8 + header.size(), f16.data(), 12);
    std::memcpy(bytes.data() + 8 + header.size() + 12, bf16.data(), 8);
    const Safetensors f = parse_safetensors(bytes, "half");
    CHECK(f.tensors.at("a").dtype() == DType::F32);
    // Read back with denormals kept: under the default flush-to-zero (DAZ) the float -> double
    // conversion of to_vector() would read the subnormal 2^-133 as 0; the file's value is exact.
    set_flush_denormals(false);
    const auto a = f.tensors.at("a").to_vector(), b = f.tensors.at("b").to_vector();
    set_flush_denormals(true);
    CHECK(a[0] == 1.0);
    CHECK(a[1] == -2.0);
    CHECK(a[2] == std::ldexp(1.0, -24));
    CHECK(a[3] == 65504.0);
    CHECK(std::isinf(a[4]));
    CHECK((a[5] == 0.0 && std::signbit(a[5])));
    CHECK(b[0] == 1.0);
    CHECK(b[1] == -3.0);
    CHECK(b[2] == std::ldexp(1.0, -133));
    CHECK(b[3] == std::ldexp(255.0, 120));  // (1 + 127/128) 2^127
  }

  TEST_CASE("hostile files are rejected with a message naming the problem") {
    const std::vector<std::pair<std::vector<uint8_t>, std::string>> corpus = {
        {{1, 2, 3}, "shorter than the 8-byte header length"},
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'}, "exceeds the format's limit"},
        {std::vector<uint8_t>{100, 0, 0, 0, 0, 0, 0, 0, '{', '}'}, "runs past the end of the file"},
        {with_header("{not json"), "not valid JSON"},
        {with_header("[1,2]"), "must be a JSON object"},
        {with_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}"),
         "needs dtype, shape and data_offsets"},
        {with_header("{\"x\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2),
         "unsupported dtype"},
        {with_header("{\"x\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
         "holds 8 bytes but BF16 [2] needs 4"},
        {with_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8),
         "bad dimension"},
        {with_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8),
         "fall outside"},
        {with_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8),
         "fall outside"},
        {with_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8),
         "needs 12"},
        {with_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                     8),
         "overlap"},
        {with_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                     "\"data_offsets\":[0,8]}}",
                     8),
         "too large"},
        {with_header("{\"__metadata__\":{\"k\":3}}"), "is not a string"},
        {with_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8),
         "two non-negative"},
    };
    for (size_t i = 0; i < corpus.size(); ++i) {
      CAPTURE(i);
      CHECK_THROWS_WITH_AS(parse_safetensors(corpus[i].first, "case"),
                           doctest::Contains(corpus[i].second.c_str()), Error);
    }
  }

  TEST_CASE("fuzz: every truncation and 3000 seeded byte flips load or throw ng::Error") {
    const auto good = serialize_safetensors(sample(), {{"k", "v"}});
    for (size_t len = 0; len < good.size(); ++len) {
      std::vector<uint8_t> cut(good.begin(), good.begin() + len);
      CHECK_THROWS_AS(parse_safetensors(cut), Error);
    }
    Generator g(2024);
    int rejected = 0;
    for (int it = 0; it < 3000; ++it) {
      auto b = good;
      const int flips = 1 + (int)g.randint(0, 4);
      for (int k = 0; k < flips; ++k)
        b[g.randint(0, (int64_t)b.size())] = (uint8_t)g.randint(0, 256);
      try {
        parse_safetensors(b);
      } catch (const Error&) {
        ++rejected;
      }  // any other exception type escapes and fails the test
    }
    MESSAGE(rejected << " of 3000 mutated files rejected, the rest parsed cleanly");
    CHECK(rejected > 0);
  }

  TEST_CASE("files are written atomically: no temp file left, failure leaves the old file") {
    const std::string path = "atomic_test.safetensors";
    save_safetensors(path, sample());
    save_safetensors(path, {{"only", ones({1})}});
    CHECK(load_safetensors(path).tensors.size() == 1);
    CHECK_THROWS_AS(save_safetensors("/nonexistent-dir/x.safetensors", sample()), Error);
    std::remove(path.c_str());
    CHECK_THROWS_WITH_AS(load_safetensors("does-not-exist.safetensors"),
                         doctest::Contains("cannot open"), Error);
  }
}
