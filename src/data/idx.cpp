#include "data/idx.h"

#include <zlib.h>

#include <filesystem>

#include "effvit/error.h"

namespace effvit {
namespace {

// gzread also reads uncompressed files transparently.
std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": file not found");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error(path + ": cannot open file");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      const std::string msg = gzerror(f, &code);
      gzclose(f);
      throw Error(path + ": corrupt gzip data: " + msg);
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  gzclose(f);
  return out;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  const std::vector<uint8_t> bytes = read_maybe_gzip(path);
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0) throw Error(path + ": not an IDX file");
  if (bytes[2] != 0x08) throw Error(path + ": IDX element type " + std::to_string(bytes[2]) + " is not unsigned byte");
  const size_t rank = bytes[3];
  if (rank == 0 || bytes.size() < 4 + 4 * rank) throw Error(path + ": truncated IDX header");
  IdxArray a;
  size_t count = 1;
  for (size_t i = 0; i < rank; ++i) {
    const uint8_t* p = &bytes[4 + 4 * i];
    const int64_t d = (int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | p[3];
    a.dims.push_back(d);
    // Sizes whose product wraps past 2^64 could match the data's length by accident.
    if (__builtin_mul_overflow(count, static_cast<size_t>(d), &count))
      throw Error(path + ": IDX header sizes multiply past 2^64 bytes; not a real file");
  }
  const size_t header = 4 + 4 * rank;
  if (bytes.size() - header != count)
    throw Error(path + ": holds " + std::to_string(bytes.size() - header) + " data bytes, its header promises " + std::to_string(count));
  a.data.assign(bytes.begin() + static_cast<int64_t>(header), bytes.end());
  return a;
}

}  // namespace effvit
