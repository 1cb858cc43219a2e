#include "data/npy.h"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "effvit/error.h"

namespace effvit {
namespace {

const char kMagic[] = "\x93NUMPY";

const char* descr_of(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::i64: return "<i8";
    case DType::i32: return "<i4";
    case DType::u8: return "|u1";
    case DType::i8: return "|i1";
    case DType::bool8: return "|b1";
    case DType::i16: return "<i2";
    case DType::u16: return "<u2";
    case DType::bf16: break;  // numpy has no bfloat16
  }
  return "";
}

// The value of 'key' in the header's dict: between `open` and `close` right after "'key':" (spaces
// allowed), or (open 0) the rest of the header from there.
// Elements stored column-major (the first index fastest) copied into row-major order.
void to_row_major(const char* src, const Shape& shape, size_t element, char* dst) {
  std::vector<int64_t> index(shape.size(), 0), stride(shape.size(), 1);
  for (size_t d = 1; d < shape.size(); ++d) stride[d] = stride[d - 1] * shape[d - 1];
  const int64_t count = shape_numel(shape);
  int64_t from = 0;  // the column-major offset of `index`
  for (int64_t to = 0; to < count; ++to) {
    std::memcpy(dst + static_cast<size_t>(to) * element, src + static_cast<size_t>(from) * element, element);
    for (size_t d = shape.size(); d-- > 0;) {  // the last index fastest, as row-major runs
      from += stride[d];
      if (++index[d] < shape[d]) break;
      from -= stride[d] * shape[d];
      index[d] = 0;
    }
  }
}

std::optional<std::string> dict_value(const std::string& header, const std::string& key, char open, char close) {
  const size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) return std::nullopt;
  size_t p = header.find_first_not_of(" \t", at + key.size() + 2);
  if (p == std::string::npos || header[p] != ':') return std::nullopt;
  p = header.find_first_not_of(" \t", p + 1);
  if (p == std::string::npos) return std::nullopt;
  if (!open) return header.substr(p);
  if (header[p] != open) return std::nullopt;
  const size_t end = header.find(close, p + 1);
  if (end == std::string::npos) return std::nullopt;
  return header.substr(p + 1, end - p - 1);
}

}  // namespace

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string bytes = buf.str();
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0) throw Error(path + ": not a .npy file");
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len, pos;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    pos = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw Error(path + ": truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    pos = 12;
  } else {
    throw Error(path + ": unsupported .npy version " + std::to_string(major));
  }
  // NumPy refuses headers over 10000 bytes too (max_header_size).
  if (header_len > 10000) throw Error(path + ": .npy header of " + std::to_string(header_len) + " bytes (at most 10000)");
  if (bytes.size() < pos + header_len) throw Error(path + ": truncated .npy header");
  const std::string header = bytes.substr(pos, header_len);
  // Scanned by hand: std::regex recurses per character and overflowed the stack on long headers.
  const std::optional<std::string> descr = dict_value(header, "descr", '\'', '\'');
  if (!descr || descr->empty()) throw Error(path + ": .npy header has no descr");
  const std::optional<std::string> fortran = dict_value(header, "fortran_order", 0, 0);
  const bool column_major = fortran && fortran->rfind("True", 0) == 0;  // a transpose saved as is: read as NumPy reads it
  const std::optional<std::string> dims_text = dict_value(header, "shape", '(', ')');
  if (!dims_text) throw Error(path + ": .npy header has no shape");
  Shape shape;
  std::stringstream dims(*dims_text);
  std::string item;
  while (std::getline(dims, item, ',')) {
    const size_t b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
    if (b == std::string::npos) continue;
    int64_t d = -1;
    const auto [end, ec] = std::from_chars(item.data() + b, item.data() + e + 1, d);
    if (ec != std::errc() || end != item.data() + e + 1 || d < 0) throw Error(path + ": bad dimension '" + item + "' in .npy shape");
    shape.push_back(d);
  }
  DType dtype;
  if (*descr == "<f4") dtype = DType::f32;
  else if (*descr == "<i8") dtype = DType::i64;
  else if (*descr == "<i4") dtype = DType::i32;
  else if (*descr == "|u1") dtype = DType::u8;
  else if (*descr == "|i1") dtype = DType::i8;
  else if (*descr == "|b1") dtype = DType::bool8;
  else if (*descr == "<i2") dtype = DType::i16;
  else if (*descr == "<u2") dtype = DType::u16;
  else
    throw Error(path + ": unsupported .npy dtype '" + *descr + "' (effvit reads float32 and integer arrays" +
                (descr->find("f8") != std::string::npos || descr->find("f2") != std::string::npos ? "; save x.astype(np.float32)" : "") + ")");
  const size_t data_at = pos + header_len;
  int64_t count = 0;
  try {
    count = shape_numel(shape);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  // Checked before allocating, so a header promising terabytes costs nothing.
  const size_t needed = static_cast<size_t>(count) * dtype_size(dtype);
  if (bytes.size() - data_at != needed)
    throw Error(path + ": holds " + std::to_string(bytes.size() - data_at) + " data bytes, shape " + shape_str(shape) + " needs " + std::to_string(needed));
  Tensor t(dtype, shape);
  if (!needed) return t;
  if (column_major) to_row_major(bytes.data() + data_at, shape, dtype_size(dtype), static_cast<char*>(t.raw()));
  else std::memcpy(t.raw(), bytes.data() + data_at, needed);
  return t;
}

void write_npy(const std::string& path, const Tensor& t) {
  std::string shape = "(";
  for (size_t i = 0; i < t.rank(); ++i) shape += std::to_string(t.shape()[i]) + (t.rank() == 1 || i + 1 < t.rank() ? "," : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so the data starts on a 64-byte boundary, newline-terminated, as NumPy does.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw Error(path + ": cannot write file");
    out.write(kMagic, 6);
    const char version[2] = {1, 0};
    out.write(version, 2);
    const uint16_t len = static_cast<uint16_t>(header.size());
    const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
    out.write(len_bytes, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.bytes()));
    out.close();  // flush now: a full disk must fail here, not silently in the destructor
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(path + ": write failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename temporary file into place");
  }
}

}  // namespace effvit
