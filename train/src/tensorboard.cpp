#include "normgrad/train/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <variant>

#include "normgrad/error.h"
#include "protobuf_wire.h"

namespace ngcli {

uint32_t crc32c(const uint8_t* data, size_t n) {
  static const auto table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82f63b78u ^ (c >> 1) : c >> 1;  // reflected
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ data[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t masked_crc32c(const uint8_t* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

namespace {
using pb::bytes, pb::fixed32, pb::fixed64, pb::key, pb::packed_doubles, pb::varint;

double now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
// A Summary.Value of a plugin: tag = 1, metadata = 9 (SummaryMetadata{plugin_data = 1:
// PluginData{plugin_name = 1, content = 2}}), tensor = 8.
std::string plugin_value(const std::string& tag, const std::string& plugin,
                         const std::string& content, const std::string& tensor) {
  std::string plugin_data, metadata, value;
  bytes(plugin_data, 1, plugin);
  if (!content.empty()) bytes(plugin_data, 2, content);
  bytes(metadata, 1, plugin_data);
  bytes(value, 1, tag);
  bytes(value, 9, metadata);
  bytes(value, 8, tensor);
  return value;
}
// The hparams plugin's placeholder tensor: float32 of shape [0] (its data is the metadata).
std::string null_tensor() {
  std::string dim, shape, tensor;
  bytes(shape, 2, dim);  // TensorShapeProto.dim: one dimension of size 0 (the default)
  key(tensor, 1, 0);     // TensorProto.dtype
  varint(tensor, 1);     // DT_FLOAT
  bytes(tensor, 2, shape);
  return tensor;
}
// Event{wall_time = 1, step = 2, summary = 5} around one Summary.Value.
std::string event_with_value(const std::string& value, int64_t step) {
  std::string summary, event;
  bytes(summary, 1, value);  // Summary.value
  fixed64(event, 1, now());
  key(event, 2, 0);
  varint(event, (uint64_t)step);
  bytes(event, 5, summary);
  return event;
}
}  // namespace

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const std::string base = dir + "/events.out.tfevents." + std::to_string((long long)now()) + "." +
                           host + "." + std::to_string(getpid());
  // Created exclusively: a second writer of this process in the same second (a run stopped
  // and resumed by one program, as the tests do) takes the name with ".1", ".2", ... rather
  // than truncating the first segment's file; the suffix sorts after it, and TensorBoard
  // reads a folder's event files in name order.
  path_ = base;
  for (int n = 1; !(file_ = std::fopen(path_.c_str(), "wbx")) && errno == EEXIST && n < 1000; ++n)
    path_ = base + "." + std::to_string(n);
  if (!file_) ng::fail("tensorboard", "cannot create ", path_);
  std::string first;
  fixed64(first, 1, now());
  bytes(first, 3, "brain.Event:2");  // Event.file_version
  write_event(first);
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::write_event(const std::string& e) {
  uint8_t header[12];
  const uint64_t n = e.size();
  for (int i = 0; i < 8; ++i) header[i] = (uint8_t)(n >> (8 * i));
  const uint32_t len_crc = masked_crc32c(header, 8);
  std::memcpy(header + 8, &len_crc, 4);  // little-endian host (x86-64)
  const uint32_t data_crc = masked_crc32c((const uint8_t*)e.data(), e.size());
  if (std::fwrite(header, 1, 12, file_) != 12 || std::fwrite(e.data(), 1, n, file_) != n ||
      std::fwrite(&data_crc, 1, 4, file_) != 4)
    ng::fail("tensorboard", "writing ", path_, " failed");
}

void TensorBoardWriter::scalar(const std::string& tag, double v, int64_t step) {
  std::string value;
  bytes(value, 1, tag);         // Value.tag
  fixed32(value, 2, (float)v);  // Value.simple_value
  write_event(event_with_value(value, step));
}

void TensorBoardWriter::histogram(const std::string& tag, const std::vector<double>& values,
                                  int64_t step, int buckets) {
  if (values.empty()) return;
  double lo = values[0], hi = values[0], sum = 0, sq = 0;
  for (double x : values) lo = std::min(lo, x), hi = std::max(hi, x), sum += x, sq += x * x;
  if (!(hi > lo)) hi = lo + 1e-12;
  std::vector<double> limits(buckets), counts(buckets, 0.0);
  for (int b = 0; b < buckets; ++b) limits[b] = lo + (hi - lo) * (b + 1) / buckets;
  for (double x : values) counts[std::min(buckets - 1, (int)((x - lo) / (hi - lo) * buckets))] += 1;
  std::string histo;  // HistogramProto
  fixed64(histo, 1, lo);
  fixed64(histo, 2, hi);
  fixed64(histo, 3, (double)values.size());
  fixed64(histo, 4, sum);
  fixed64(histo, 5, sq);
  packed_doubles(histo, 6, limits);
  packed_doubles(histo, 7, counts);
  std::string value;
  bytes(value, 1, tag);
  bytes(value, 5, histo);  // Value.histo
  write_event(event_with_value(value, step));
}

void TensorBoardWriter::text(const std::string& tag, const std::string& text, int64_t step) {
  std::string shape, tensor;
  key(tensor, 1, 0);                           // TensorProto.dtype
  varint(tensor, 7);                           // DT_STRING
  bytes(tensor, 2, shape);                     // TensorProto.tensor_shape: a scalar
  bytes(tensor, 8, "```\n" + text + "\n```");  // TensorProto.string_val, as markdown code
  write_event(event_with_value(plugin_value(tag, "text", "", tensor), step));
}

void TensorBoardWriter::hparams_session_start(const HParams& hparams) {
  std::string start;  // SessionStartInfo
  for (const auto& [name, v] : hparams) {
    std::string value, entry;  // google.protobuf.Value; an entry of the map<string, Value>
    if (const double* d = std::get_if<double>(&v)) {
      fixed64(value, 2, *d);  // number_value
    } else if (const bool* b = std::get_if<bool>(&v)) {
      key(value, 4, 0);  // bool_value (a oneof member: written even when false)
      varint(value, *b ? 1 : 0);
    } else {
      bytes(value, 3, std::get<std::string>(v));  // string_value
    }
    bytes(entry, 1, name);
    bytes(entry, 2, value);
    bytes(start, 1, entry);  // SessionStartInfo.hparams
  }
  fixed64(start, 5, now());  // start_time_secs
  std::string data;          // HParamsPluginData, version 0 (the default: not written)
  bytes(data, 3, start);     // session_start_info
  write_event(event_with_value(
      plugin_value("_hparams_/session_start_info", "hparams", data, null_tensor()), 0));
  flush();
}

void TensorBoardWriter::hparams_session_end(SessionStatus status) {
  std::string end, data;  // SessionEndInfo{status = 1, end_time_secs = 2}
  key(end, 1, 0);
  varint(end, (uint64_t)status);
  fixed64(end, 2, now());
  bytes(data, 4, end);  // HParamsPluginData.session_end_info
  write_event(event_with_value(
      plugin_value("_hparams_/session_end_info", "hparams", data, null_tensor()), 0));
  flush();
}

void TensorBoardWriter::graph(const std::string& graph_def) {
  std::string event;
  fixed64(event, 1, now());
  bytes(event, 4, graph_def);  // Event.graph_def: the serialized GraphDef
  write_event(event);
  flush();
}

void TensorBoardWriter::flush() { std::fflush(file_); }

}  // namespace ngcli
