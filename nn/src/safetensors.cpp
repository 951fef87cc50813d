#include "normgrad/nn/safetensors.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

namespace ng::nn {

namespace {

using json = nlohmann::json;
constexpr uint64_t kMaxHeader = 100ull << 20;  // the format's own limit

const char* st_dtype(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::I64:
      return "I64";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "F32")
    out = DType::F32;
  else if (s == "F64")
    out = DType::F64;
  else if (s == "I64")
    out = DType::I64;
  else
    return false;
  return true;
}

// Half-precision files (Hugging Face models are often saved in F16 or BF16) are widened to
// F32 on load: every F16 and BF16 value is exactly representable in F32.
enum class Half { None, F16, BF16 };
Half parse_half(const std::string& s) {
  return s == "F16" ? Half::F16 : s == "BF16" ? Half::BF16 : Half::None;
}
float half_to_float(uint16_t h, Half kind) {
  uint32_t bits;
  if (kind == Half::BF16) {
    bits = (uint32_t)h << 16;
  } else {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) {
      bits = sign | 0x7f800000u | (man << 13);  // inf, NaN
    } else if (exp != 0) {
      bits = sign | ((exp + 112) << 23) | (man << 13);  // rebias 15 -> 127
    } else if (man == 0) {
      bits = sign;
    } else {  // subnormal: man * 2^-24, exact in float
      const float v = (float)man * 0x1p-24f;
      std::memcpy(&bits, &v, 4);
      bits |= sign;
    }
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

std::vector<uint8_t> serialize_safetensors(const StateDict& tensors, const Metadata& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<Tensor> host;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") fail("save_safetensors", "'__metadata__' is not a tensor name");
    Tensor c = t.detach().to(Device::CPU).contiguous();
    const uint64_t bytes = c.numel() * dtype_size(c.dtype());
    header[name] = {{"dtype", st_dtype(c.dtype())},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    host.push_back(c);
  }
  std::string h;
  try {
    h = header.dump();  // throws on a name or metadata value that is not valid UTF-8
  } catch (const std::exception& e) {
    fail("save_safetensors", "header cannot be written as JSON (", e.what(),
         "): names and metadata must be valid UTF-8");
  }
  h.append((8 - h.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::vector<uint8_t> out(8 + h.size() + offset);
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = (uint8_t)(n >> (8 * i));
  std::memcpy(out.data() + 8, h.data(), h.size());
  uint8_t* data = out.data() + 8 + h.size();
  for (const Tensor& c : host) {
    const size_t bytes = c.numel() * dtype_size(c.dtype());
    if (bytes) std::memcpy(data, c.raw_data(), bytes);
    data += bytes;
  }
  return out;
}

Safetensors parse_safetensors(const std::vector<uint8_t>& bytes, const std::string& source) {
  const std::string op = "load_safetensors";
  auto bad = [&](const auto&... why) { fail(op.c_str(), source, ": ", why...); };
  if (bytes.size() < 8)
    bad("file is ", bytes.size(), " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= (uint64_t)bytes[i] << (8 * i);
  if (n > kMaxHeader) bad("header length ", n, " exceeds the format's limit of ", kMaxHeader);
  if (n > bytes.size() - 8)
    bad("header length ", n, " runs past the end of the file (", bytes.size(), " bytes)");
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + n);
  } catch (const std::exception& e) {
    bad("header is not valid JSON (", e.what(), ")");
  }
  if (!header.is_object()) bad("header must be a JSON object");
  const uint64_t data_size = bytes.size() - 8 - n;
  const uint8_t* data = bytes.data() + 8 + n;

  Safetensors out;
  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) bad("__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) bad("__metadata__ entry '", m.key(), "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets"))
      bad("entry '", name, "' needs dtype, shape and data_offsets");
    const json &jd = v["dtype"], &js = v["shape"], &jo = v["data_offsets"];
    DType dt = DType::F32;
    const Half half = jd.is_string() ? parse_half(jd.get<std::string>()) : Half::None;
    if (!jd.is_string() || (half == Half::None && !parse_dtype(jd.get<std::string>(), dt)))
      bad("entry '", name, "' has unsupported dtype ", jd.dump(),
          " (normgrad reads F32, F64, I64, and F16/BF16 widened to F32)");
    const size_t stored_size = half != Half::None ? 2 : dtype_size(dt);
    if (!js.is_array()) bad("entry '", name, "' shape is not an array");
    Shape shape;
    uint64_t numel = 1;
    for (const json& d : js) {
      if (!d.is_number_unsigned()) bad("entry '", name, "' has a bad dimension ", d.dump());
      const uint64_t s = d.get<uint64_t>();
      if (s != 0 && numel > std::numeric_limits<uint64_t>::max() / 8 / s)
        bad("entry '", name, "' shape is too large");
      numel *= s;
      shape.push_back((int64_t)s);
    }
    if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() ||
        !jo[1].is_number_unsigned())
      bad("entry '", name, "' data_offsets must be two non-negative integers");
    const uint64_t b = jo[0].get<uint64_t>(), e = jo[1].get<uint64_t>();
    if (b > e || e > data_size)
      bad("entry '", name, "' data_offsets [", b, ", ", e, "] fall outside the ", data_size,
          " data bytes");
    if (e - b != numel * stored_size)
      bad("entry '", name, "' holds ", e - b, " bytes but ", jd.get<std::string>(), " ",
          shape_str(shape), " needs ", numel * stored_size);
    spans.push_back({b, e, name});
    Tensor t = empty(shape, {.dtype = dt});
    if (half != Half::None) {
      float* out_values = t.data<float>();
      for (uint64_t i = 0; i < numel; ++i) {
        uint16_t h;
        std::memcpy(&h, data + b + 2 * i, 2);
        out_values[i] = half_to_float(h, half);
      }
    } else if (e > b) {
      std::memcpy(t.raw_data(), data + b, e - b);
    }
    out.tensors[name] = t;
  }
  std::sort(spans.begin(), spans.end(),
            [](const Span& x, const Span& y) { return x.begin < y.begin; });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end)
      bad("entries '", spans[i - 1].name, "' and '", spans[i].name, "' overlap");
  return out;
}

namespace {
// A writer killed between creating PATH.tmp.PID and renaming it leaves the temp file
// behind; once that process is gone, the next writer of PATH removes it.
void remove_stale_temps(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string prefix = p.filename().string() + ".tmp.";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.size() > 9 ||
        pid_text.find_first_not_of("0123456789") != std::string::npos)
      continue;
    const pid_t pid = (pid_t)std::stol(pid_text);
    if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) {
      std::error_code rm;
      fs::remove(it->path(), rm);
    }
  }
}
}  // namespace

void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  remove_stale_temps(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail("save", "cannot create ", tmp, ": ", std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("save", "writing ", tmp, " failed: ", err);
    }
    done += (size_t)w;
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail("save", "flushing ", tmp, " failed: ", std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    fail("save", "renaming ", tmp, " to ", path, " failed: ", err);
  }
}

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

Safetensors load_safetensors(const std::string& path) {
  // A regular file only, read to its size: a device or FIFO (/dev/urandom) is refused, not
  // read without end.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail("load_safetensors", "cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("load_safetensors", path, " is not a regular file");
  }
  std::vector<uint8_t> bytes((size_t)st.st_size);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      ::close(fd);
      fail("load_safetensors", "reading ", path, " failed (",
           r < 0 ? std::strerror(errno) : "file shrank while read", ")");
    }
    done += (size_t)r;
  }
  ::close(fd);
  return parse_safetensors(bytes, path);
}

}  // namespace ng::nn
