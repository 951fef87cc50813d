// A seedable, deterministic random generator (xoshiro256**, seeded by splitmix64).
// Same seed, same numbers, whatever the thread count: generation is sequential.
#pragma once
#include <cstdint>
#include <string>

namespace ng {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { seed_(seed); }
  void seed_(uint64_t seed);
  uint64_t next_u64();
  double uniform();                            // [0, 1)
  double normal();                             // N(0, 1), Box-Muller
  int64_t randint(int64_t low, int64_t high);  // [low, high)
  // The full state as text, to save in a checkpoint and restore for a bit-exact resume.
  std::string state() const;
  void set_state(const std::string& s);

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// The generator random ops use when they are given none.
Generator& default_generator();
// Reseeds the default generator.
void manual_seed(uint64_t seed);

}  // namespace ng
