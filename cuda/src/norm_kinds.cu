// The norm kinds the GPU runs fused: one line per kind (the kind itself is its header).
#include "norm_rows.cuh"
#include "normgrad/norms.h"

namespace ng::cuda {
using namespace ng::norms;

NG_CUDA_NORM(LayerNorm);
NG_CUDA_NORM(RMSNorm);
NG_CUDA_NORM(DyT);
NG_CUDA_NORM(DyISRU);
NG_CUDA_NORM(Derf);
NG_CUDA_NORM(BHyT);

}  // namespace ng::cuda
