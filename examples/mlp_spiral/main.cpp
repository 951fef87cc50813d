// An MLP learns the classic 3-arm spiral. Everything is visible: the data generator, the
// model (three weight matrices), and plain SGD written inline. Prints loss and training
// accuracy; reaches >= 95% accuracy in a few seconds on 2 cores.
#include <normgrad/normgrad.h>

#include <chrono>
#include <cmath>
#include <cstdio>

using namespace ng;

// K arms of N points each: radius grows along the arm, angle turns with a little noise.
static std::pair<Tensor, Tensor> make_spiral(int64_t N, int64_t K, Generator& gen) {
  std::vector<float> xy;
  std::vector<int64_t> label;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t i = 0; i < N; ++i) {
      const double r = (double)i / (N - 1);
      const double t = k * 4.0 + 4.0 * r + 0.2 * gen.normal();
      xy.push_back((float)(r * std::sin(t)));
      xy.push_back((float)(r * std::cos(t)));
      label.push_back(k);
    }
  return {from_vector(xy, {N * K, 2}), from_vector(label, {N * K})};
}

// He-style init: a [in, out] matrix of N(0, 2/in) that requires grad.
static Tensor weight(int64_t in, int64_t out, Generator& gen) {
  return (randn({in, out}, {}, &gen) * std::sqrt(2.0 / in)).detach().requires_grad_();
}

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 2000;
  std::printf("%s\n", thread_config().c_str());
  Generator gen(1337);
  auto [X, y] = make_spiral(100, 3, gen);

  const int64_t H = 64;
  Tensor W1 = weight(2, H, gen), b1 = zeros({H}, {.requires_grad = true});
  Tensor W2 = weight(H, H, gen), b2 = zeros({H}, {.requires_grad = true});
  Tensor W3 = weight(H, 3, gen), b3 = zeros({3}, {.requires_grad = true});
  std::vector<Tensor> params{W1, b1, W2, b2, W3, b3};

  auto forward = [&](const Tensor& x) {
    Tensor h = relu(matmul(x, W1) + b1);
    h = relu(matmul(h, W2) + b2);
    return matmul(h, W3) + b3;  // logits
  };

  const double lr = 0.5, weight_decay = 1e-4;
  const auto t0 = std::chrono::steady_clock::now();
  double acc = 0;
  for (int step = 0; step <= steps; ++step) {
    Tensor logits = forward(X);
    Tensor loss = cross_entropy(logits, y);
    for (auto& p : params) p.zero_grad();
    loss.backward();
    {
      NoGradGuard no_grad;  // SGD with L2 weight decay, in place
      for (auto& p : params) p.add_(p.grad() + p * weight_decay, -lr);
    }
    if (step % 200 == 0 || step == steps) {
      NoGradGuard no_grad;
      acc = mean(eq(argmax(logits, 1).to(DType::F32), y.to(DType::F32))).item();
      std::printf("step %5d  loss %.4f  train accuracy %5.1f%%\n", step, loss.item(), 100 * acc);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("done in %.2f s: final training accuracy %.1f%% (%s)\n", secs, 100 * acc,
              acc >= 0.95 ? "reached the 95% goal" : "below the 95% goal");
  return acc >= 0.95 ? 0 : 1;
}
