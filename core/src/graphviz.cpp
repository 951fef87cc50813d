#include "normgrad/graphviz.h"

#include <cstdio>
#include <map>
#include <sstream>
#include <vector>

#include "normgrad/autograd.h"

namespace ng {
namespace {

// Characters that are syntax inside a DOT record label.
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string("{}|<>\"\\").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string number(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", x);
  return b;
}

// "float64 [2, 3]", and for one element "| data 2.0000 | grad 645.5773"
std::string describe(const Tensor& t, bool with_grad) {
  std::string s = escape(std::string(dtype_name(t.dtype())) + " " + shape_str(t.shape()));
  if (t.numel() == 1) s += " | data " + number(t.item());
  if (with_grad && t.grad().defined()) {
    const Tensor g = t.grad();
    s += g.numel() == 1 ? " | grad " + number(g.item()) : " | grad norm " + number(g.norm().item());
  }
  return s;
}

}  // namespace

std::string to_dot(const Tensor& root) {
  std::ostringstream dot;
  dot << "digraph normgrad {\n  rankdir=LR;\n  node [fontname=\"monospace\", fontsize=10];\n";
  dot << "  out [shape=record, style=bold, label=\"{output | " << describe(root, false)
      << "}\"];\n";
  Node* top = root.impl()->grad_fn.get();
  if (!top) {  // a leaf (or a tensor outside any graph): just itself
    dot << "}\n";
    return dot.str();
  }
  std::map<Node*, int> id;
  std::vector<Node*> unvisited{top};
  id[top] = 0;
  std::ostringstream nodes, edges;
  while (!unvisited.empty()) {  // iterative: deep graphs must not recurse
    Node* n = unvisited.back();
    unvisited.pop_back();
    const int me = id.at(n);
    if (auto* acc = dynamic_cast<AccumulateGrad*>(n))
      nodes << "  n" << me << " [shape=record, label=\"{leaf | "
            << describe(Tensor(acc->leaf), true) << "}\"];\n";
    else
      nodes << "  n" << me << " [shape=box, style=rounded, label=\"" << escape(n->name) << "\"];\n";
    for (const Edge& e : n->next) {
      if (!e.node) continue;
      auto [it, fresh] = id.emplace(e.node.get(), (int)id.size());
      if (fresh) unvisited.push_back(e.node.get());
      edges << "  n" << it->second << " -> n" << me;
      if (!e.shape.empty()) edges << " [label=\"" << escape(shape_str(e.shape)) << "\"]";
      edges << ";\n";
    }
  }
  dot << nodes.str() << edges.str() << "  n0 -> out;\n}\n";
  return dot.str();
}

}  // namespace ng
