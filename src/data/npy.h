// NumPy .npy files (format 1.0/2.0, little-endian, C order) for `effvit run` and tests.
#pragma once

#include <string>

#include "effvit/tensor.h"

namespace effvit {

// Throws effvit::Error naming the file for anything but a well-formed C-order array of a dtype
// effvit knows (<f4, <i8, <i4, |u1, |i1, |b1).
Tensor read_npy(const std::string& path);
// Writes atomically (temp file + rename).
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace effvit
