#include "normgrad/train/model_graph.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "normgrad/error.h"
#include "protobuf_wire.h"

namespace ngcli {
using namespace ng;
using namespace ng::nn;

namespace {

// TensorShapeProto{repeated Dim dim = 2}, Dim{int64 size = 1}.
std::string shape_proto(const Shape& shape) {
  std::string out;
  for (int64_t d : shape) {
    std::string dim;
    pb::int64_field(dim, 1, d);
    pb::bytes(out, 2, dim);
  }
  return out;
}
// AttrValue, a oneof: list = 1, s = 2, i = 3, f = 4, shape = 7.
std::string attr_string(const std::string& s) {
  std::string a;
  pb::bytes(a, 2, s);
  return a;
}
std::string attr_int(int64_t i) {
  std::string a;
  pb::int64_field(a, 3, i);
  return a;
}
std::string attr_float(double f) {
  std::string a;
  pb::fixed32(a, 4, (float)f);
  return a;
}
std::string attr_shape(const Shape& s) {
  std::string a;
  pb::bytes(a, 7, shape_proto(s));
  return a;
}
// `_output_shapes`: AttrValue.list, ListValue{repeated TensorShapeProto shape = 7}, one
// shape per output (every node here has one).
std::string attr_output_shapes(const Shape& s) {
  std::string list, a;
  pb::bytes(list, 7, shape_proto(s));
  pb::bytes(a, 1, list);
  return a;
}

using Attrs = std::vector<std::pair<std::string, std::string>>;  // key, encoded AttrValue

struct Node {
  std::string name, op;
  std::vector<std::string> inputs;
  Attrs attrs;
};

// NodeDef{name = 1, op = 2, repeated input = 3, map<string, AttrValue> attr = 5}; a map is
// a repeated entry message {key = 1, value = 2}.
std::string node_def(const Node& n) {
  std::string out;
  pb::bytes(out, 1, n.name);
  pb::bytes(out, 2, n.op);
  for (const std::string& in : n.inputs) pb::bytes(out, 3, in);
  for (const auto& [k, v] : n.attrs) {
    std::string entry;
    pb::bytes(entry, 1, k);
    pb::bytes(entry, 2, v);
    pb::bytes(out, 5, entry);
  }
  return out;
}

// A module path as a node name: "transformer.h.3.attn.c_attn" -> "block3/attn/c_attn",
// "transformer.ln_f" -> "ln_f". TensorBoard nests the nodes by "/"; "blockN" rather than
// "h/N" so a block is one box, not a box inside a box of all blocks.
std::string node_name(const std::string& path) {
  std::string p = path.rfind("transformer.", 0) == 0 ? path.substr(12) : path;
  if (p.rfind("h.", 0) == 0) p = "block" + p.substr(2);
  if (p.empty()) p = "model";  // the GPT itself (its own parameters, e.g. embed_scale)
  std::replace(p.begin(), p.end(), '.', '/');
  return p;
}

// A layer's op: a norm's kind (so every kind is drawn under its own name), else its type.
std::string layer_op(const Module& m) {
  if (const auto* n = dynamic_cast<const Norm*>(&m)) return n->kind();
  if (dynamic_cast<const Linear*>(&m)) return "Linear";
  if (dynamic_cast<const Embedding*>(&m)) return "Embedding";
  if (dynamic_cast<const GELU*>(&m)) return "GELU";
  if (dynamic_cast<const Dropout*>(&m)) return "Dropout";
  if (dynamic_cast<const CausalSelfAttention*>(&m)) return "Attention";
  if (dynamic_cast<const MLP*>(&m)) return "MLP";
  if (dynamic_cast<const Block*>(&m)) return "Block";
  return "Module";
}

// A layer's output shape from its input's: a Linear maps the last dimension to its
// weight's rows, an Embedding adds one of its width; the rest act per element or token.
Shape layer_output(const Module& m, Shape in) {
  if (const auto* l = dynamic_cast<const Linear*>(&m)) in.back() = l->weight.size(0);
  if (const auto* e = dynamic_cast<const Embedding*>(&m)) in.push_back(e->weight.size(1));
  return in;
}

// The nodes in the order the forward pass makes them, each with its output shape (what the
// next node's derives from).
class GraphBuilder {
 public:
  explicit GraphBuilder(GPT& model) : model_(model) {
    for (auto& [path, m] : model.named_modules()) path_[m] = path, module_[path] = m;
  }

  // An operation that is not a layer, named `name` (in the scope of the module whose
  // forward performs it).
  std::string op(const std::string& name, const std::string& op, std::vector<std::string> inputs,
                 Shape out, Attrs attrs = {}) {
    for (const std::string& in : inputs)
      if (!shapes_.count(in)) fail("model graph", "node ", name, " reads ", in, ", not made yet");
    attrs.push_back({"_output_shapes", attr_output_shapes(out)});
    nodes_.push_back({name, op, std::move(inputs), std::move(attrs)});
    shapes_[name] = std::move(out);
    return name;
  }

  // A layer of the model applied to `input`: named after its module path, its op from its
  // type, with its parameters' and buffers' shapes.
  std::string layer(Module& m, const std::string& input) {
    const std::string& path = path_.at(&m);
    Attrs attrs{{"module", attr_string(path)}};
    for (const auto& [n, p] : m.named_parameters()) {
      attrs.push_back({"param/" + n, attr_shape(p.shape())});
      shown_.insert(path + "." + n);
    }
    for (const auto& [n, b] : m.named_buffers())
      attrs.push_back({"buffer/" + n, attr_shape(b.shape())});
    if (dynamic_cast<const GELU*>(&m))
      attrs.push_back({"approximate", attr_string(model_.config().gelu)});
    if (dynamic_cast<const Dropout*>(&m))
      attrs.push_back({"p", attr_float(model_.config().dropout)});
    return op(node_name(path), layer_op(m), {input}, layer_output(m, shapes_.at(input)),
              std::move(attrs));
  }

  // A module by its path (the members the GPT keeps private: wte, wpe, the dropouts).
  Module& at(const std::string& path) const {
    const auto it = module_.find(path);
    if (it == module_.end()) fail("model graph", "the model has no module ", path);
    return *it->second;
  }
  const std::string& path(const Module& m) const { return path_.at(&m); }
  const Shape& shape(const std::string& node) const { return shapes_.at(node); }
  // A parameter some op node shows (a layer's show themselves).
  void shown(const std::string& param) { shown_.insert(param); }

  // The GraphDef{repeated NodeDef node = 1}, after one unconnected node per module whose own
  // parameters no node showed: a layer added to the model, which no wiring here knows yet,
  // still appears (under its path, with its shapes) rather than silently not at all.
  std::string finish() {
    for (auto& [path, m] : model_.named_modules()) {
      Attrs attrs{{"module", attr_string(path)}};
      for (const auto& [n, p] : m->named_parameters()) {
        const std::string full = path.empty() ? n : path + "." + n;
        if (n.find('.') == std::string::npos && !shown_.count(full))
          attrs.push_back({"param/" + n, attr_shape(p.shape())});
      }
      if (attrs.size() > 1) nodes_.push_back({node_name(path), layer_op(*m), {}, std::move(attrs)});
    }
    std::string graph;
    for (const Node& n : nodes_) pb::bytes(graph, 1, node_def(n));
    return graph;
  }

 private:
  GPT& model_;
  std::map<const Module*, std::string> path_;
  std::map<std::string, Module*> module_;
  std::vector<Node> nodes_;
  std::map<std::string, Shape> shapes_;
  std::set<std::string> shown_;  // dotted names of the parameters a node shows
};

// Block::forward: x + attn(ln_1(x)), then + mlp(ln_2(.)); dropouts only where they act
// (p > 0: at 0 they are the identity, and the graph shows what computes).
std::string block_nodes(GraphBuilder& g, const Block& b, const std::string& x, const GPTConfig& c) {
  const std::string scope = node_name(g.path(b)), attn = g.path(*b.attn), mlp = g.path(*b.mlp);
  const std::string qkv = g.layer(*b.attn->c_attn, g.layer(*b.ln_1, x));
  Shape heads = g.shape(qkv);
  heads.back() /= 3;  // q, k and v side by side -> one C-wide output
  Attrs attention{{"module", attr_string(attn)}, {"n_head", attr_int(c.n_head)}};
  if (c.dropout > 0) attention.push_back({"attn_dropout", attr_float(c.dropout)});
  std::string a = g.op(scope + "/attn/attention", "Attention", {qkv}, heads, attention);
  a = g.layer(*b.attn->c_proj, a);
  if (c.dropout > 0) a = g.layer(g.at(attn + ".resid_dropout"), a);
  const std::string h = g.op(scope + "/add_attn", "Add", {x, a}, g.shape(x));
  std::string m = g.layer(*b.mlp->c_fc, g.layer(*b.ln_2, h));
  m = g.layer(*b.mlp->c_proj, g.layer(g.at(mlp + ".gelu"), m));
  if (c.dropout > 0) m = g.layer(g.at(mlp + ".dropout"), m);
  return g.op(scope + "/add_mlp", "Add", {h, m}, g.shape(h));
}

}  // namespace

std::string gpt_graph_def(GPT& model, int64_t batch) {
  const GPTConfig& c = model.config();
  const int64_t T = c.block_size;
  GraphBuilder g(model);
  // GPT::forward: token and position embeddings (times embed_scale), dropout, the blocks,
  // ln_f, the LM head tied to wte; then GPT::loss.
  std::string x = g.layer(g.at("transformer.wte"), g.op("idx", "Input", {}, {batch, T}));
  if (c.embed_scale) {
    x = g.op("embed_scale", "Mul", {x}, g.shape(x), {{"param/embed_scale", attr_shape({})}});
    g.shown("embed_scale");
  }
  const std::string pos = g.layer(g.at("transformer.wpe"), g.op("positions", "Range", {}, {T}));
  x = g.op("add_embeddings", "Add", {x, pos}, g.shape(x));
  if (c.dropout > 0) x = g.layer(g.at("transformer.drop"), x);
  for (const auto& b : model.blocks()) x = block_nodes(g, *b, x, c);
  x = g.layer(*model.ln_f, x);
  const std::string logits = g.op("lm_head", "Linear", {x}, {batch, T, c.vocab},
                                  {{"tied_to", attr_string("transformer.wte.weight")}});
  g.op("loss", "CrossEntropy", {logits, g.op("targets", "Input", {}, {batch, T})}, {});
  return g.finish();
}

}  // namespace ngcli
