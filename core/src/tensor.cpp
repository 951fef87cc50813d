// Tensor handle: layout queries, creation, element access, conversions, in-place writes.
#include "normgrad/tensor.h"

#include <cmath>
#include <cstring>

#include "normgrad/autograd.h"
#include "normgrad/backend.h"
#include "normgrad/ops.h"
#include "normgrad/random.h"

namespace ng {

TensorImpl* Tensor::checked() const {
  if (!impl_) throw Error("[tensor] use of an undefined tensor (default-constructed Tensor)");
  return impl_.get();
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  TensorImpl* i = checked();
  return static_cast<char*>(i->storage->data) + i->offset * dtype_size(i->dtype);
}

template <class T>
T* Tensor::data() const {
  if (dtype() != dtype_of<T>())
    fail("data", "tensor is ", dtype_name(dtype()), ", asked for ", dtype_name(dtype_of<T>()));
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int64_t* Tensor::data<int64_t>() const;

Tensor make_tensor(std::shared_ptr<Storage> st, Shape shape, Shape strides, int64_t offset,
                   DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(st);
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

// ---- element access ----

namespace {
double read_element(const Tensor& t, int64_t elem_offset) {
  const TensorImpl* i = t.impl();
  const size_t es = dtype_size(i->dtype);
  alignas(8) unsigned char buf[8];
  const char* src = static_cast<const char*>(i->storage->data) + (i->offset + elem_offset) * es;
  backend(t.device()).copy_to_host(buf, src, es);
  switch (i->dtype) {
    case DType::F32: {
      float v;
      std::memcpy(&v, buf, 4);
      return v;
    }
    case DType::F64: {
      double v;
      std::memcpy(&v, buf, 8);
      return v;
    }
    case DType::I64: {
      int64_t v;
      std::memcpy(&v, buf, 8);
      return (double)v;
    }
  }
  return 0;
}

int64_t element_offset(const Tensor& t, const std::vector<int64_t>& index, const char* op) {
  if ((int64_t)index.size() != t.dim())
    fail(op, "index has ", index.size(), " entries for a tensor of shape ", shape_str(t.shape()));
  int64_t off = 0;
  for (int64_t d = 0; d < t.dim(); ++d) {
    int64_t i = index[d] < 0 ? index[d] + t.size(d) : index[d];
    if (i < 0 || i >= t.size(d))
      fail(op, "index ", index[d], " is out of range for dim ", d, " of shape ",
           shape_str(t.shape()));
    off += i * t.stride(d);
  }
  return off;
}

void check_inplace(const Tensor& t, const char* op) {
  if (t.requires_grad() && GradMode::enabled())
    fail(op, "in-place write to a tensor that requires grad (shape ", shape_str(t.shape()),
         "); wrap it in NoGradGuard or use the out-of-place op");
}

void bump_version(const Tensor& t) { t.impl()->storage->version++; }
}  // namespace

double Tensor::item() const {
  if (numel() != 1) fail("item", "needs a tensor with one element, got shape ", shape_str(shape()));
  return read_element(*this, 0);
}

double Tensor::at(const std::vector<int64_t>& index) const {
  return read_element(*this, element_offset(*this, index, "at"));
}

void Tensor::set(const std::vector<int64_t>& index, double value) {
  check_inplace(*this, "set");
  const int64_t off = element_offset(*this, index, "set");
  Tensor one = make_tensor(impl()->storage, {}, {}, offset() + off, dtype());
  backend_of(*this).fill(one, value);
  bump_version(*this);
}

std::vector<double> Tensor::to_vector() const {
  Tensor c = to(Device::CPU).contiguous().to(DType::F64);
  const double* p = c.data<double>();
  return std::vector<double>(p, p + c.numel());
}

// ---- conversions ----

Tensor Tensor::to(DType t) const {
  if (dtype() == t) return *this;
  Tensor out = empty(shape(), {.dtype = t, .device = device()});
  backend_of(*this).copy(*this, out);
  if (!is_floating(t) || !is_floating(dtype())) return out;
  const DType src = dtype();
  return autograd::record("to_dtype", out, {*this}, {}, [src](const TensorList&, const Tensor& g) {
    return TensorList{g.to(src)};
  });
}

Tensor Tensor::to(Device d) const {
  if (device() == d) return *this;
  const Tensor src = contiguous();
  Tensor out = empty(shape(), {.dtype = dtype(), .device = d});
  const size_t nbytes = numel() * dtype_size(dtype());
  if (d == Device::CPU) {
    backend(src.device()).copy_to_host(out.raw_data(), src.raw_data(), nbytes);
  } else if (src.device() == Device::CPU) {
    backend(d).copy_from_host(out.raw_data(), src.raw_data(), nbytes);
  } else {
    return src.to(Device::CPU).to(d);
  }
  const Device from = device();
  return autograd::record(
      "to_device", out, {*this}, {},
      [from](const TensorList&, const Tensor& g) { return TensorList{g.to(from)}; });
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), {.dtype = dtype(), .device = device()});
  backend_of(*this).copy(*this, out);
  return autograd::record("clone", out, {*this}, {},
                          [](const TensorList&, const Tensor& g) { return TensorList{g}; });
}

Tensor Tensor::detach() const {
  return make_tensor(impl()->storage, shape(), strides(), offset(), dtype());
}

// ---- in-place ----

Tensor& Tensor::fill_(double v) {
  check_inplace(*this, "fill_");
  backend_of(*this).fill(*this, v);
  bump_version(*this);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  NG_CHECK(src.device() == device(), "copy_", "source on ", device_name(src.device()),
           ", destination on ", device_name(device()));
  Tensor s = src.detach();
  if (s.shape() != shape()) s = s.expand(shape());
  backend_of(*this).copy(s, *this);
  bump_version(*this);
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace(*this, "add_");
  NoGradGuard ng;
  Tensor o = alpha == 1.0 ? other : ng::mul(other, alpha);
  if (o.shape() != shape()) o = o.expand(shape());
  NG_CHECK(o.dtype() == dtype(), "add_", "dtype mismatch: ", dtype_name(dtype()),
           " += ", dtype_name(o.dtype()));
  backend_of(*this).binary(BinaryOp::Add, *this, o, *this);
  bump_version(*this);
  return *this;
}

Tensor& Tensor::mul_(double s) {
  check_inplace(*this, "mul_");
  backend_of(*this).unary(UnaryOp::MulScalar, *this, *this, s, 0);
  bump_version(*this);
  return *this;
}

// ---- creation ----

Tensor empty(const Shape& s, TensorOptions o) {
  for (int64_t d : s)
    if (d < 0) fail("empty", "negative size in shape ", shape_str(s));
  auto st = backend(o.device).allocate(numel_of(s) * dtype_size(o.dtype));
  Tensor t = make_tensor(std::move(st), s, contiguous_strides(s), 0, o.dtype);
  if (o.requires_grad) t.requires_grad_();
  return t;
}

Tensor full(const Shape& s, double value, TensorOptions o) {
  const bool rg = o.requires_grad;
  o.requires_grad = false;
  Tensor t = empty(s, o);
  backend(o.device).fill(t, value);
  if (rg) t.requires_grad_();
  return t;
}
Tensor zeros(const Shape& s, TensorOptions o) { return full(s, 0.0, o); }
Tensor ones(const Shape& s, TensorOptions o) { return full(s, 1.0, o); }
Tensor zeros_like(const Tensor& t) {
  return zeros(t.shape(), {.dtype = t.dtype(), .device = t.device()});
}
Tensor ones_like(const Tensor& t) {
  return ones(t.shape(), {.dtype = t.dtype(), .device = t.device()});
}
Tensor scalar_tensor(double v, TensorOptions o) { return full({}, v, o); }

namespace {
template <class T>
Tensor from_values(const std::vector<T>& v, const Shape& s, TensorOptions o, DType native) {
  if ((int64_t)v.size() != numel_of(s))
    fail("from_vector", v.size(), " values do not fill shape ", shape_str(s));
  Tensor host = empty(s, {.dtype = native});
  if (!v.empty()) std::memcpy(host.raw_data(), v.data(), v.size() * sizeof(T));
  Tensor t = host.to(o.dtype).to(o.device);
  if (o.requires_grad) t = t.detach().requires_grad_();
  return t;
}
}  // namespace

Tensor from_vector(const std::vector<double>& v, const Shape& s, TensorOptions o) {
  return from_values(v, s, o, DType::F64);
}
Tensor from_vector(const std::vector<float>& v, const Shape& s, TensorOptions o) {
  return from_values(v, s, o, DType::F32);
}
Tensor from_vector(const std::vector<int64_t>& v, const Shape& s, TensorOptions o) {
  return from_values(v, s, o, DType::I64);
}
Tensor tensor(std::initializer_list<double> values, TensorOptions o) {
  return from_vector(std::vector<double>(values), {(int64_t)values.size()}, o);
}

Tensor arange(double end, TensorOptions o) { return arange(0, end, 1, o); }
Tensor arange(double start, double end, double step, TensorOptions o) {
  if (step == 0 || (end - start) / step < 0)
    fail("arange", "bad range start=", start, " end=", end, " step=", step);
  const int64_t n = (int64_t)std::ceil((end - start) / step);
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + i * step;
  return from_vector(v, {n}, o);
}

Tensor randn(const Shape& s, TensorOptions o, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  std::vector<double> v(numel_of(s));
  for (auto& x : v) x = g.normal();
  return from_vector(v, s, o);
}
Tensor rand(const Shape& s, TensorOptions o, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  std::vector<double> v(numel_of(s));
  for (auto& x : v) x = g.uniform();
  return from_vector(v, s, o);
}
Tensor randint(int64_t low, int64_t high, const Shape& s, TensorOptions o, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  std::vector<int64_t> v(numel_of(s));
  for (auto& x : v) x = g.randint(low, high);
  return from_vector(v, s, o);
}

// ---- member shortcuts ----
Tensor Tensor::sum(std::vector<int64_t> dims, bool keepdim) const {
  return ng::sum(*this, dims, keepdim);
}
Tensor Tensor::mean(std::vector<int64_t> dims, bool keepdim) const {
  return ng::mean(*this, dims, keepdim);
}
Tensor Tensor::norm() const { return ng::sqrt(ng::sum(ng::square(*this))); }

}  // namespace ng
