// One thread-count setting for our OpenMP kernels and OpenBLAS (which is built on the
// same OpenMP runtime, so the two share one pool and never oversubscribe the cores).
#pragma once
#include <string>

namespace ng {

void set_num_threads(int n);
int num_threads();
// e.g. "threads: 2 (OpenMP), OpenBLAS 0.3.21 core Haswell, parallel=OpenMP"
std::string thread_config();

}  // namespace ng
