#include <normgrad/normgrad.h>

#include <cmath>
#include <iostream>

int main() {
  ng::Tensor x = ng::tensor({1.0, 2.0, 3.0}, {.requires_grad = true});
  ng::Tensor loss = ng::sum(x * x);
  loss.backward();
  const auto g = x.grad().to_vector();
  std::cout << "consumer: loss " << loss.item() << ", grad " << x.grad() << "\n";
  return (loss.item() == 14 && g[2] == 6) ? 0 : 1;
}
