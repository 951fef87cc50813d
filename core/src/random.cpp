#include "normgrad/random.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "normgrad/error.h"

namespace ng {
namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Generator::seed_(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
  has_spare_ = false;
}

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::uniform() { return (next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * M_PI * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * M_PI * u2);
}

int64_t Generator::randint(int64_t low, int64_t high) {
  if (high <= low) fail("randint", "need low < high, got low=", low, " high=", high);
  const uint64_t range = (uint64_t)(high - low);
  // rejection sampling: no modulo bias
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  uint64_t v;
  do v = next_u64();
  while (v >= limit);
  return low + (int64_t)(v % range);
}

std::string Generator::state() const {
  char buf[160];
  uint64_t spare_bits;
  std::memcpy(&spare_bits, &spare_, 8);
  std::snprintf(buf, sizeof buf, "%016llx %016llx %016llx %016llx %d %016llx",
                (unsigned long long)s_[0], (unsigned long long)s_[1], (unsigned long long)s_[2],
                (unsigned long long)s_[3], has_spare_ ? 1 : 0, (unsigned long long)spare_bits);
  return buf;
}

void Generator::set_state(const std::string& st) {
  // Exactly what state() writes: four 64-bit words, the spare flag, the spare's bits.
  unsigned long long a, b, c, d, sp;
  int has, used = 0;
  if (std::sscanf(st.c_str(), "%16llx %16llx %16llx %16llx %1d %16llx%n", &a, &b, &c, &d, &has, &sp,
                  &used) != 6 ||
      (size_t)used != st.size() || (has != 0 && has != 1))
    fail("Generator::set_state", "malformed state '", st.substr(0, 120),
         "' (want 4 hex words, 0 or 1, a hex word)");
  if ((a | b | c | d) == 0)  // xoshiro's one fixed point: it would draw zeros forever
    fail("Generator::set_state", "state '", st, "' is all zeros");
  double spare;
  const uint64_t bits = sp;
  std::memcpy(&spare, &bits, 8);
  if (has && !std::isfinite(spare)) fail("Generator::set_state", "spare normal is not finite");
  s_[0] = a, s_[1] = b, s_[2] = c, s_[3] = d;
  has_spare_ = has != 0;
  spare_ = spare;
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}

void manual_seed(uint64_t seed) { default_generator().seed_(seed); }

}  // namespace ng
