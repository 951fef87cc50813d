// One exception type; every message starts with "[op]" so users see which call failed.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace ng {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... R>
void append(std::ostringstream& s, const T& t, const R&... r) {
  s << t;
  append(s, r...);
}
}  // namespace detail

// Builds "[op] part1part2..." from streamable parts.
template <class... Parts>
[[noreturn]] void fail(const char* op, const Parts&... parts) {
  std::ostringstream s;
  s << "[" << op << "] ";
  detail::append(s, parts...);
  throw Error(s.str());
}

#define NG_CHECK(cond, op, ...)               \
  do {                                        \
    if (!(cond)) ::ng::fail(op, __VA_ARGS__); \
  } while (0)

}  // namespace ng
