#include "import/tensor_proto.h"

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "effvit/error.h"

namespace effvit {
namespace {

// float16 initializers are widened to float32: effvit computes the float path in fp32.
float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      int e = -1;
      uint32_t m = mant;
      do { ++e; m <<= 1; } while (!(m & 0x400));
      bits = sign | ((127 - 15 - e) << 23) | ((m & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::string read_external(const onnx::TensorProto& proto, const std::string& model_dir, const std::string& what,
                          size_t expected) {
  std::string location;
  int64_t offset = 0, length = -1;
  auto number = [&](const std::string& key, const std::string& text) {
    int64_t v = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < 0)
      throw Error(what + ": external data " + key + " '" + text + "' is not a byte count");
    return v;
  };
  for (const auto& kv : proto.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = number("offset", kv.value());
    else if (kv.key() == "length") length = number("length", kv.value());
  }
  namespace fs = std::filesystem;
  if (location.empty() || fs::path(location).is_absolute() || location.find("..") != std::string::npos)
    throw Error(what + ": invalid external data location '" + location + "'");
  const fs::path file = fs::path(model_dir) / location;
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot open external data for " + what);
  if (length < 0) length = static_cast<int64_t>(expected);
  if (static_cast<size_t>(length) != expected)
    throw Error(file.string() + ": external data for " + what + " has " + std::to_string(length) + " bytes, expected " + std::to_string(expected));
  std::string data(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(data.data(), length);
  if (in.gcount() != length) throw Error(file.string() + ": external data for " + what + " is truncated");
  return data;
}

}  // namespace

Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& model_dir, const std::string& what) {
  Shape shape(proto.dims().begin(), proto.dims().end());
  for (int64_t d : shape)
    if (d < 0) throw Error(what + ": negative dimension in " + shape_str(shape));
  int64_t n = 0;
  try {
    n = shape_numel(shape);
  } catch (const Error& e) {
    throw Error(what + ": " + e.what());
  }
  using TP = onnx::TensorProto;
  DType dtype;
  size_t src_elem;
  switch (proto.data_type()) {
    case TP::FLOAT: dtype = DType::f32; src_elem = 4; break;
    case TP::DOUBLE: dtype = DType::f32; src_elem = 8; break;
    case TP::FLOAT16: dtype = DType::f32; src_elem = 2; break;
    case TP::INT64: dtype = DType::i64; src_elem = 8; break;
    case TP::INT32: dtype = DType::i32; src_elem = 4; break;
    case TP::UINT8: dtype = DType::u8; src_elem = 1; break;
    case TP::INT8: dtype = DType::i8; src_elem = 1; break;
    case TP::BOOL: dtype = DType::bool8; src_elem = 1; break;
    case TP::INT16: dtype = DType::i16; src_elem = 2; break;
    case TP::UINT16: dtype = DType::u16; src_elem = 2; break;
    default: throw Error(what + ": unsupported tensor data type " + std::to_string(proto.data_type()));
  }
  const size_t raw_bytes = static_cast<size_t>(n) * src_elem;
  std::string external;
  const std::string* raw = nullptr;
  // Sizes are checked before the tensor is allocated: a declared shape alone must not cost memory.
  if (proto.data_location() == TP::EXTERNAL) {
    external = read_external(proto, model_dir, what, raw_bytes);
    raw = &external;
  } else if (proto.has_raw_data()) {
    raw = &proto.raw_data();
    if (raw->size() != raw_bytes)
      throw Error(what + ": raw data has " + std::to_string(raw->size()) + " bytes, expected " + std::to_string(raw_bytes));
  } else {
    const int64_t have = proto.data_type() == TP::FLOAT ? proto.float_data_size()
                         : proto.data_type() == TP::DOUBLE ? proto.double_data_size()
                         : proto.data_type() == TP::INT64 ? proto.int64_data_size()
                                                          : proto.int32_data_size();
    if (have != n) throw Error(what + ": has " + std::to_string(have) + " values, expected " + std::to_string(n));
  }
  Tensor t(dtype, shape);
  if (raw) {
    const char* p = raw->data();
    if (proto.data_type() == TP::DOUBLE) {
      for (int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, p + i * 8, 8);
        t.data<float>()[i] = static_cast<float>(d);
      }
    } else if (proto.data_type() == TP::FLOAT16) {
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + i * 2, 2);
        t.data<float>()[i] = half_to_float(h);
      }
    } else if (raw_bytes) {
      std::memcpy(t.raw(), p, raw_bytes);
    }
    return t;
  }
  switch (proto.data_type()) {
    case TP::FLOAT:
      std::copy(proto.float_data().begin(), proto.float_data().end(), t.data<float>());
      break;
    case TP::DOUBLE:
      for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = static_cast<float>(proto.double_data(static_cast<int>(i)));
      break;
    case TP::INT64:
      std::copy(proto.int64_data().begin(), proto.int64_data().end(), t.data<int64_t>());
      break;
    default:  // int32_data carries int32, (u)int16, uint8, int8, bool and float16 bits
      for (int64_t i = 0; i < n; ++i) {
        const int32_t v = proto.int32_data(static_cast<int>(i));
        switch (proto.data_type()) {
          case TP::INT32: t.data<int32_t>()[i] = v; break;
          case TP::FLOAT16: t.data<float>()[i] = half_to_float(static_cast<uint16_t>(v)); break;
          case TP::INT8: t.data<int8_t>()[i] = static_cast<int8_t>(v); break;
          case TP::INT16: t.data<int16_t>()[i] = static_cast<int16_t>(v); break;
          case TP::UINT16: t.data<uint16_t>()[i] = static_cast<uint16_t>(v); break;
          default: t.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
        }
      }
  }
  return t;
}

}  // namespace effvit
