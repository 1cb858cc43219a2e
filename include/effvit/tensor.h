// Dense tensors: the unit of data crossing effvit's public API.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "effvit/error.h"

namespace effvit {

// bf16 (bfloat16: a float32's upper 16 bits) appears only inside bf16 plans, between convs; no
// model input or output has it.
// i16 / u16 hold 16-bit Q/DQ codes (opset 21, or com.microsoft's Q/DQ below it).
enum class DType : uint8_t { f32, i64, i32, u8, i8, bool8, bf16, i16, u16 };

const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);

using Shape = std::vector<int64_t>;

// Element count; -1 when a dimension is negative (dynamic). Throws effvit::Error beyond
// kMaxElements (2^36, 256 GiB of float32), so a hostile shape cannot overflow into a small count.
constexpr int64_t kMaxElements = int64_t{1} << 36;
int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);

// A row-major (C order) tensor. Copies share the same storage (like a shared_ptr); use clone() for
// a deep copy. A tensor may also view external memory it does not own (see Tensor::view).
class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape);  // zero-initialised, owned storage

  static Tensor view(DType dtype, Shape shape, void* data);
  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(size_t i) const {
    if (i >= shape_.size()) fail_dim(i);
    return shape_[i];
  }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool defined() const { return data_ != nullptr || numel() == 0; }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  // Typed access; throws effvit::Error when T is not the tensor's element type (bool is stored as
  // uint8_t). Reading an int64 output as float once scored a model on garbage.
  template <typename T>
  T* data() {
    check_type<T>();
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    check_type<T>();
    return static_cast<const T*>(data_);
  }

  // Same storage, new shape (element counts must match).
  Tensor reshaped(Shape shape) const;
  Tensor clone() const;

 private:
  friend class Plan;  // re-points its input views at each run's data without reallocating them

  template <typename T>
  void check_type() const;
  [[noreturn]] void fail_type(const char* wanted) const;
  [[noreturn]] void fail_dim(size_t i) const;

  DType dtype_ = DType::f32;
  Shape shape_;
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
};

template <typename T>
struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::f32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::i64; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::i32; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::i8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::i16; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::u16; };
// A bfloat16 element, read as its bits.
struct BFloat16 {
  uint16_t bits;
};
template <> struct DTypeOf<BFloat16> { static constexpr DType value = DType::bf16; };

template <typename T>
void Tensor::check_type() const {
  constexpr DType want = DTypeOf<T>::value;
  if (dtype_ != want && !(want == DType::u8 && dtype_ == DType::bool8)) fail_type(dtype_name(want));
}

template <typename T>
Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  Tensor t(DTypeOf<T>::value, std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel())
    throw Error(ErrorKind::invalid_input, std::to_string(values.size()) + " values for a tensor of shape " + shape_str(t.shape()));
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

}  // namespace effvit
