#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

#include "normgrad/threading.h"

int main(int argc, char** argv) {
  std::cout << ng::thread_config() << "\n";
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
