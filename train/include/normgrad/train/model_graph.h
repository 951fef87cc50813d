// The model graph of TensorBoard's GRAPHS tab: a GPT's forward pass and loss as a
// tensorflow GraphDef (serialized by hand, like the event files).
//   tb.graph(gpt_graph_def(model, batch));
// One node per layer the model holds, found by walking the model object, so a new norm kind
// or option shows up as it is: the node's op is the norm's kind ("dyt", "rmsnorm"), the
// layer's type ("Linear", "Embedding", "GELU", "Dropout") or the operation ("Attention",
// "Add", "CrossEntropy"). Names are the module paths scoped by "/" (transformer.h.0.attn.c_attn
// is block0/attn/c_attn), so TensorBoard draws each block, attention and MLP as a box that
// opens. Inputs follow the data (residual adds included); every node has the `_output_shapes`
// attr (TensorBoard labels the edges with it), a layer its module path ("module") and the
// shape of each parameter ("param/<name>") and buffer ("buffer/<name>").
#pragma once
#include <cstdint>
#include <string>

#include "normgrad/nn/gpt.h"

namespace ngcli {

// The GraphDef of `model` training on `batch` sequences of block_size tokens per forward pass.
// A parameter of a module this function does not wire (one added to the model later) still
// gets a node, unconnected, so no parameter is missing from the graph. Non-const because
// Module::named_modules() is; the model is not changed.
std::string gpt_graph_def(ng::nn::GPT& model, int64_t batch);

}  // namespace ngcli
