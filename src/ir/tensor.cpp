#include "effvit/tensor.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>
#include <stdexcept>

#include "effvit/error.h"
#include "ir/mapped_memory.h"

namespace effvit {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "float32";
    case DType::i64: return "int64";
    case DType::i32: return "int32";
    case DType::u8: return "uint8";
    case DType::i8: return "int8";
    case DType::bool8: return "bool";
    case DType::bf16: return "bfloat16";
    case DType::i16: return "int16";
    case DType::u16: return "uint16";
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::bf16: case DType::i16: case DType::u16: return 2;
    case DType::u8: case DType::i8: case DType::bool8: return 1;
  }
  return 0;
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    // Hostile shapes must not wrap around to a small count that then under-allocates.
    if (d < 0) return -1;
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxElements)
      throw Error("tensor shape " + shape_str(shape) + " has too many elements");
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
  os << ']';
  return os.str();
}

std::shared_ptr<void> map_zeroed(size_t bytes) {
  bytes = std::max<size_t>(bytes, 1);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return std::shared_ptr<void>(p, [bytes](void* q) { munmap(q, bytes); });
}

namespace {

// Tensors this large (weights, mostly) are mapped (see ir/mapped_memory.h), so a weight a Model
// stops holding leaves the process at once.
constexpr size_t kMappedBytes = 256 * 1024;

// 64-byte alignment lets vector kernels use aligned loads on any tensor start.
std::shared_ptr<void> allocate(size_t bytes) {
  if (bytes >= kMappedBytes) {
    try {
      return map_zeroed(bytes);
    } catch (const std::bad_alloc&) {
      throw Error(ErrorKind::out_of_memory, "out of memory for a tensor of " + std::to_string(bytes) + " bytes");
    }
  }
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!p) throw Error(ErrorKind::out_of_memory, "out of memory for a tensor of " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, rounded ? rounded : 64);
  return std::shared_ptr<void>(p, std::free);
}
}  // namespace

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  for (int64_t d : shape_)
    if (d < 0) throw Error(ErrorKind::invalid_input, "negative dimension in tensor shape " + shape_str(shape_));
  storage_ = allocate(bytes());
  data_ = storage_.get();
}

Tensor Tensor::view(DType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel())
    throw Error(ErrorKind::invalid_input, "cannot reshape a tensor of shape " + shape_str(shape_) + " to " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (bytes()) std::memcpy(t.data_, data_, bytes());
  return t;
}

}  // namespace effvit

namespace effvit {

void Tensor::fail_dim(size_t i) const {
  throw Error(ErrorKind::invalid_input, "a tensor of shape " + shape_str(shape_) + " has no dimension " + std::to_string(i));
}

void Tensor::fail_type(const char* wanted) const {
  throw Error(ErrorKind::invalid_input, std::string("a ") + dtype_name(dtype_) + " tensor " + shape_str(shape_) + " read as " + wanted);
}

}  // namespace effvit
