// TensorBoard event files, written directly: TFRecord framing (length, masked CRC32C of
// the length, payload, masked CRC32C of the payload) around Event protocol buffers
// (wall_time, step, and a Summary of scalar values, histograms or plugin data; or a model
// graph). No protobuf or TensorFlow dependency: the few message fields are encoded by hand
// (src/protobuf_wire.h).
//   TensorBoardWriter tb("runs/dyt");           // runs/dyt/events.out.tfevents.<time>.<host>
//   tb.scalar("loss/train", 3.21, step);
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ngcli {

// CRC-32C (Castagnoli), and TFRecord's masked form of it.
uint32_t crc32c(const uint8_t* data, size_t n);
uint32_t masked_crc32c(const uint8_t* data, size_t n);

class TensorBoardWriter {
 public:
  // Creates a new event file in `dir` (which must exist) and writes the file-version event.
  explicit TensorBoardWriter(const std::string& dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  void scalar(const std::string& tag, double value, int64_t step);
  // A histogram of `values` in `buckets` equal-width buckets between their min and max.
  void histogram(const std::string& tag, const std::vector<double>& values, int64_t step,
                 int buckets = 30);
  // Text (the text plugin: markdown shown per step), e.g. samples from the model.
  void text(const std::string& tag, const std::string& text, int64_t step);
  // The GRAPHS tab's run graph: `graph_def` is a serialized tensorflow GraphDef
  // (model_graph.h builds a GPT's). Once per run: TensorBoard keeps one graph per run folder
  // and warns when a later event file brings another.
  void graph(const std::string& graph_def);

  // The hparams plugin (TensorBoard's HPARAMS tab): this folder is one session with these
  // hyperparameters; the tab lists the sessions of a log folder with their values and
  // metrics (the scalars), and filters and sorts them by any of them. No experiment summary
  // is written: TensorBoard infers it from every session's values (a string's choices are
  // the values seen).
  using HParam = std::variant<double, bool, std::string>;
  using HParams = std::vector<std::pair<std::string, HParam>>;
  void hparams_session_start(const HParams& hparams);
  // The session's end, as TensorBoard's Status: finished or failed (diverged).
  enum class SessionStatus { kSuccess = 1, kFailure = 2 };
  void hparams_session_end(SessionStatus status);
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& event_payload);
  std::string path_;
  FILE* file_ = nullptr;
};

}  // namespace ngcli
