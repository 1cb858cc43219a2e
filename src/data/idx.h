// IDX files (the MNIST / Fashion-MNIST container), plain or gzip-compressed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace effvit {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // unsigned-byte payload, row-major
};

// Throws effvit::Error naming the file: missing, not IDX, not unsigned-byte, truncated.
IdxArray read_idx(const std::string& path);

}  // namespace effvit
