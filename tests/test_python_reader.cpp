// A GPT checkpoint opens in an independent safetensors reader (tests/read_safetensors.py,
// Python standard library only). Skips with a message when python3 is missing.
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "helpers.h"
#include "normgrad/nn.h"

#ifndef NG_TEST_DIR
#define NG_TEST_DIR "."
#endif

using namespace ngt;

TEST_SUITE("safetensors") {
  TEST_CASE("a GPT checkpoint reads back in an independent Python reader") {
    if (std::system("python3 -c pass > /dev/null 2>&1") != 0) {
      MESSAGE("skipped: python3 is not installed");
      return;
    }
    nn::GPT m({.vocab = 7, .n_layer = 1, .n_head = 1, .n_embd = 4, .block_size = 3, .norm = "dyt"});
    const std::string path = "python_reader_test.safetensors";
    nn::save_safetensors(path, m.state_dict(), {{"norm", "dyt"}});
    const std::string cmd = std::string("python3 ") + NG_TEST_DIR + "/read_safetensors.py " + path;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    CHECK(pclose(p) == 0);
    std::remove(path.c_str());
    for (auto& [name, t] : m.state_dict()) {
      CAPTURE(name);
      char line[256];
      std::snprintf(line, sizeof line, "%s F32 %s %.6g", name.c_str(), shape_str(t.shape()).c_str(),
                    sum(t.to(DType::F64)).item());
      CHECK(out.find(line) != std::string::npos);
    }
    CHECK(out.find("metadata {\"norm\": \"dyt\"}") != std::string::npos);
  }
}
