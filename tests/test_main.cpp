#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "normgrad/threading.h"

// Every run of the test binary (one per ctest entry) works in its own fresh temporary
// directory, removed at exit: tests that write files never meet another run's files, so
// the suite is safe under `ctest -j` and repeated runs.
int main(int argc, char** argv) {
  // the kernel family the normgrad command runs (it may re-run this program once): the
  // command processes the tests start must compute what the tests compute in-process
  ng::select_blas_core(argv);
  namespace fs = std::filesystem;
  // mkdtemp fills in the template's last six characters with a unique suffix and creates it
  std::string tmpl = (fs::temp_directory_path() / "normgrad_test_XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::cerr << "cannot create a temporary directory from " << tmpl << "\n";
    return 2;
  }
  const fs::path work = tmpl;
  fs::current_path(work);
  // --threads 0 caches its measured thread count per machine and model shape: here, not in
  // the user's ~/.cache, and not shared with another test process (thread_choice.h)
  setenv("NG_CACHE_DIR", (work / "cache").c_str(), 1);
  std::cout << ng::thread_config() << "\nworking directory: " << work.string() << "\n";
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  fs::current_path(fs::temp_directory_path());
  std::error_code ec;
  fs::remove_all(work, ec);
  return rc;
}
