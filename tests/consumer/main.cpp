// Builds against the installed focus and checks one gradient end to end.
#include <focus.h>

#include <cstdio>

int main() {
  using namespace focus;
  Tensor w = tensor({1.0, 2.0}, {}, kFloat64).requires_grad_();
  Tensor loss = sum(w * w);
  loss.backward();
  bool ok = w.grad().to_vector<double>() == std::vector<double>{2.0, 4.0};
  std::printf("consumer: %s\n", ok ? "ok" : "wrong gradient");
  return ok ? 0 : 1;
}
