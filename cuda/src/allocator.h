// Caching device allocator (see MemoryStats in normgrad/cuda.h).
#pragma once
#include <cstddef>

namespace ng::cuda {

void* cached_malloc(size_t nbytes, size_t* rounded);
void cached_free(void* p, size_t rounded);

}  // namespace ng::cuda
