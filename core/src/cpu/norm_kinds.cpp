// The norm kinds the CPU runs fused: one line per kind (the kind itself is its header).
#include "dispatch.h"
#include "norm_rows.h"
#include "normgrad/norms.h"

namespace ng::cpu {
using namespace ng::norms;

NG_CPU_NORM(LayerNorm);
NG_CPU_NORM(RMSNorm);
NG_CPU_NORM(DyT);
NG_CPU_NORM(DyISRU);
NG_CPU_NORM(Derf);
NG_CPU_NORM(BHyT);
NG_CPU_NORM(Identity);
NG_CPU_NORM(TaperNorm);

}  // namespace ng::cpu
