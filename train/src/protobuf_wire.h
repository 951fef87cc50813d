// Protocol buffer wire format, written by hand for the few messages the TensorBoard files
// hold (tensorboard.cpp: events and summaries; model_graph.cpp: the model's GraphDef), so
// normgrad needs no protobuf library. key = field << 3 | wire type (0 varint, 1 fixed64,
// 2 length-delimited, 5 fixed32); a message field is its encoded bytes, length-delimited.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace ngcli::pb {

inline void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += (char)(uint8_t)(v | 0x80);
    v >>= 7;
  }
  out += (char)(uint8_t)v;
}
inline void key(std::string& out, int field, int wire) {
  varint(out, (uint64_t)(field << 3 | wire));
}
// A varint field; negative int64 values take ten bytes (two's complement), as protobuf's.
inline void int64_field(std::string& out, int field, int64_t v) {
  key(out, field, 0);
  varint(out, (uint64_t)v);
}
inline void fixed64(std::string& out, int field, double v) {
  key(out, field, 1);
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}
inline void fixed32(std::string& out, int field, float v) {
  key(out, field, 5);
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}
// A string, bytes or embedded message field.
inline void bytes(std::string& out, int field, const std::string& v) {
  key(out, field, 2);
  varint(out, v.size());
  out += v;
}
inline void packed_doubles(std::string& out, int field, const std::vector<double>& v) {
  std::string body;
  for (double x : v) {
    char b[8];
    std::memcpy(b, &x, 8);
    body.append(b, 8);
  }
  bytes(out, field, body);
}

}  // namespace ngcli::pb
