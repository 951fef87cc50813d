#include <vector>
#include <cstdio>
int main() {
  std::vector<double> v{1, 1, 0, 0};
  std::printf("%g %g %g %g\n", v[0], v[1], v[2], v[3]);
}
