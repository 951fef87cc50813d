// Reads back the TensorBoard event files normgrad writes, for the tests: TFRecord framing
// with both masked CRCs checked, and the few Event/Summary protobuf fields normgrad uses.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "normgrad/train/tensorboard.h"

namespace ngt {

struct ProtoField {
  int number, wire;
  uint64_t varint = 0;
  std::string bytes;
};
inline std::vector<ProtoField> parse_fields(const std::string& m) {
  std::vector<ProtoField> out;
  size_t i = 0;
  auto varint = [&]() {
    uint64_t v = 0;
    for (int shift = 0; i < m.size() && shift < 64; shift += 7) {
      const uint8_t b = (uint8_t)m[i++];
      v |= (uint64_t)(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return v;
  };
  while (i < m.size()) {
    const uint64_t key = varint();
    ProtoField f{(int)(key >> 3), (int)(key & 7)};
    if (f.wire == 0) f.varint = varint();
    if (f.wire == 1) f.bytes = m.substr(i, 8), i += 8;
    if (f.wire == 5) f.bytes = m.substr(i, 4), i += 4;
    if (f.wire == 2) {
      const uint64_t n = varint();
      f.bytes = m.substr(i, n), i += n;
    }
    out.push_back(f);
  }
  return out;
}

struct EventLog {
  std::string path;        // the (only) event file of the folder, empty if none
  bool framing_ok = true;  // every record's length and CRCs are right
  bool version = false;    // the first event says brain.Event:2
  std::map<std::string, std::vector<std::pair<int64_t, float>>> scalars;  // tag -> (step, value)
  std::set<std::string> histograms;
  std::map<std::string, std::vector<int64_t>> texts;  // tag -> steps
  std::vector<std::string> graphs;                    // serialized GraphDefs (Event.graph_def)
};

// Every event file of a run folder, oldest first (a resumed run has one per segment).
inline std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0)
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());  // the names start with the creation time in seconds
  return out;
}

inline EventLog read_event_file(const std::string& path) {
  EventLog log;
  log.path = path;
  std::ifstream f(log.path, std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (size_t at = 0; at < all.size();) {
    uint64_t n = 0;
    uint32_t len_crc = 0, data_crc = 0;
    if (at + 12 > all.size()) return log.framing_ok = false, log;
    std::memcpy(&n, all.data() + at, 8);
    std::memcpy(&len_crc, all.data() + at + 8, 4);
    if (n > all.size() || at + 12 + n + 4 > all.size()) return log.framing_ok = false, log;
    const std::string event = all.substr(at + 12, n);
    std::memcpy(&data_crc, all.data() + at + 12 + n, 4);
    if (len_crc != ngcli::masked_crc32c((const uint8_t*)all.data() + at, 8) ||
        data_crc != ngcli::masked_crc32c((const uint8_t*)event.data(), n))
      log.framing_ok = false;
    at += 12 + n + 4;
    int64_t step = 0;
    for (const ProtoField& ef : parse_fields(event)) {
      if (ef.number == 2) step = (int64_t)ef.varint;
      if (ef.number == 3) log.version = ef.bytes == "brain.Event:2";
      if (ef.number == 4) log.graphs.push_back(ef.bytes);
      if (ef.number != 5) continue;
      for (const ProtoField& sv : parse_fields(ef.bytes)) {  // Summary.value
        std::string tag;
        for (const ProtoField& v : parse_fields(sv.bytes)) {
          if (v.number == 1) tag = v.bytes;
          if (v.number == 2) {
            float x;
            std::memcpy(&x, v.bytes.data(), 4);
            log.scalars[tag].push_back({step, x});
          }
          if (v.number == 5) log.histograms.insert(tag);
          if (v.number == 8) log.texts[tag].push_back(step);
        }
      }
    }
  }
  return log;
}

// The folder's (only, or newest) event file.
inline EventLog read_events(const std::string& dir) {
  const auto files = event_files(dir);
  return files.empty() ? EventLog{} : read_event_file(files.back());
}

// A GraphDef's nodes, decoded: NodeDef{name = 1, op = 2, input = 3, attr = 5 (entries
// {key = 1, value = 2: AttrValue})}; attrs keeps each AttrValue's bytes.
struct GraphNode {
  std::string name, op;
  std::vector<std::string> inputs;
  std::map<std::string, std::string> attrs;
};
inline std::vector<GraphNode> parse_graph(const std::string& graph_def) {
  std::vector<GraphNode> out;
  for (const ProtoField& nf : parse_fields(graph_def)) {
    if (nf.number != 1) continue;
    GraphNode n;
    for (const ProtoField& f : parse_fields(nf.bytes)) {
      if (f.number == 1) n.name = f.bytes;
      if (f.number == 2) n.op = f.bytes;
      if (f.number == 3) n.inputs.push_back(f.bytes);
      if (f.number != 5) continue;
      std::string k, v;
      for (const ProtoField& e : parse_fields(f.bytes)) (e.number == 1 ? k : v) = e.bytes;
      n.attrs[k] = v;
    }
    out.push_back(n);
  }
  return out;
}
// A TensorShapeProto's sizes (dim = 2, Dim.size = 1).
inline std::vector<int64_t> parse_shape(const std::string& shape) {
  std::vector<int64_t> out;
  for (const ProtoField& d : parse_fields(shape))
    if (d.number == 2) {
      int64_t size = 0;
      for (const ProtoField& s : parse_fields(d.bytes))
        if (s.number == 1) size = (int64_t)s.varint;
      out.push_back(size);
    }
  return out;
}
// The fields of an AttrValue by number (s = 2, i = 3, shape = 7, list = 1).
inline std::map<int, ProtoField> attr_fields(const std::string& attr_value) {
  std::map<int, ProtoField> out;
  for (const ProtoField& f : parse_fields(attr_value)) out[f.number] = f;
  return out;
}

// A node's `_output_shapes` (AttrValue.list = 1, ListValue.shape = 7): its one output's shape.
inline std::vector<int64_t> output_shape(const GraphNode& n) {
  for (const ProtoField& s : parse_fields(attr_fields(n.attrs.at("_output_shapes"))[1].bytes))
    if (s.number == 7) return parse_shape(s.bytes);
  return {-1};  // no shape in the list
}

}  // namespace ngt
