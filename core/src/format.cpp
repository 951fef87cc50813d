// Printing in PyTorch's style: tensor([[1.0000, 2.0000], ...], requires_grad=True)
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "normgrad/tensor.h"

namespace ng {
namespace {

struct Style {
  bool integer = false;  // all values whole: print "3." (or "3" for int64)
  bool sci = false;
  bool is_int_dtype = false;
  int width = 0;
};

std::string format_value(double v, const Style& st) {
  char buf[64];
  if (st.is_int_dtype)
    std::snprintf(buf, sizeof buf, "%lld", (long long)v);
  else if (std::isnan(v))
    std::snprintf(buf, sizeof buf, "nan");
  else if (std::isinf(v))
    std::snprintf(buf, sizeof buf, v > 0 ? "inf" : "-inf");
  else if (st.sci)
    std::snprintf(buf, sizeof buf, "%.4e", v);
  else if (st.integer)
    std::snprintf(buf, sizeof buf, "%.0f.", v);
  else
    std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

Style choose_style(const std::vector<double>& vals, DType dt) {
  Style st;
  st.is_int_dtype = dt == DType::I64;
  if (!st.is_int_dtype) {
    double lo = INFINITY, hi = 0;
    bool any = false;
    st.integer = true;
    for (double v : vals) {
      if (!std::isfinite(v)) continue;
      if (v != std::floor(v)) st.integer = false;
      const double a = std::fabs(v);
      if (a == 0) continue;
      any = true;
      lo = std::min(lo, a);
      hi = std::max(hi, a);
    }
    if (any) {
      if (st.integer)
        st.sci = hi > 1e8;
      else
        st.sci = hi / lo > 1000 || hi > 1e8 || lo < 1e-4;
    }
  }
  for (double v : vals) st.width = std::max<int>(st.width, (int)format_value(v, st).size());
  return st;
}

constexpr int64_t kSummarizeAbove = 1000, kEdge = 3, kLineWidth = 80;

// Indices shown along a dim of size n (all, or the first and last kEdge with -1 for "...").
std::vector<int64_t> shown(int64_t n, bool summarize) {
  std::vector<int64_t> idx;
  if (!summarize || n <= 2 * kEdge) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    for (int64_t i = 0; i < kEdge; ++i) idx.push_back(i);
    idx.push_back(-1);
    for (int64_t i = n - kEdge; i < n; ++i) idx.push_back(i);
  }
  return idx;
}

void format_dim(std::ostringstream& o, const std::vector<double>& v, const Shape& s,
                const Shape& st, int64_t base, size_t d, int indent, bool summ, const Style& sty) {
  o << "[";
  const auto idx = shown(s[d], summ);
  if (d + 1 == s.size()) {
    const int64_t per_line = std::max<int64_t>(1, (kLineWidth - indent) / (sty.width + 2));
    int64_t on_line = 0;
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k) {
        o << ",";
        if (++on_line == per_line) {
          o << "\n" << std::string(indent + 1, ' ');
          on_line = 0;
        } else {
          o << " ";
        }
      }
      if (idx[k] < 0) {
        o << "...";
        continue;
      }
      std::string f = format_value(v[base + idx[k] * st[d]], sty);
      o << std::string(sty.width - f.size(), ' ') << f;
    }
  } else {
    std::string sep = ",";  // built by append: GCC 12 warns falsely on operator+ here
    sep.append(s.size() - d - 1, '\n');
    sep.append(indent + 1, ' ');
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k) o << sep;
      if (idx[k] < 0) {
        o << "...";
        continue;
      }
      format_dim(o, v, s, st, base + idx[k] * st[d], d + 1, indent + 1, summ, sty);
    }
  }
  o << "]";
}

// "add_scalar" -> "AddScalarBackward", in the spirit of PyTorch's grad_fn names.
std::string backward_name(const std::string& op) {
  std::string out;
  bool up = true;
  for (char c : op) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up ? (char)std::toupper((unsigned char)c) : c;
    up = false;
  }
  return out + "Backward";
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  const std::vector<double> vals = to_vector();
  const bool summ = numel() > kSummarizeAbove;
  std::vector<double> sample;
  if (summ) {  // style from the shown values only, as PyTorch
    for (size_t i = 0; i < vals.size() && i < (size_t)kEdge * 4; ++i) sample.push_back(vals[i]);
    for (size_t i = vals.size() - std::min<size_t>(vals.size(), kEdge * 4); i < vals.size(); ++i)
      sample.push_back(vals[i]);
  }
  const Style sty = choose_style(summ ? sample : vals, dtype());
  std::ostringstream o;
  o << "tensor(";
  if (dim() == 0)
    o << format_value(vals[0], sty);
  else if (numel() == 0)
    o << "[]";
  else
    format_dim(o, vals, shape(), contiguous_strides(shape()), 0, 0, 7, summ, sty);
  if (numel() == 0 && dim() > 1) o << ", size=" << shape_str(shape());
  if (dtype() == DType::F64) o << ", dtype=float64";
  if (device() != Device::CPU) o << ", device='" << device_name(device()) << "'";
  if (!grad_fn_name().empty())
    o << ", grad_fn=<" << backward_name(grad_fn_name()) << ">";
  else if (requires_grad())
    o << ", requires_grad=True";
  o << ")";
  return o.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace ng
