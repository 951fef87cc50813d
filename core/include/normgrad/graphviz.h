// The autograd graph behind a tensor as Graphviz DOT text, in the spirit of micrograd's
// draw_dot: one box per op (the node backward() calls), one record per leaf with its dtype,
// shape, and, for single-element tensors, its value and (once computed) gradient; edges run
// forward, from each input to the op that uses it, labelled with the input's shape.
//   std::ofstream("graph.dot") << ng::to_dot(loss);   then: dot -Tsvg graph.dot -o graph.svg
#pragma once
#include <string>

#include "normgrad/tensor.h"

namespace ng {

// The graph that produced root, as Graphviz DOT text.
std::string to_dot(const Tensor& root);

}  // namespace ng
