// A file mapped read-only into memory, so a model is parsed without first copying it whole.
// (Kept apart from onnx_import.cpp: <sys/mman.h> defines MAP_TYPE, which ONNX's parser uses.)
#pragma once

#include <cstddef>
#include <string>

namespace effvit {

class MappedFile {
 public:
  // Throws effvit::Error naming `path` when it is missing, a directory, or unreadable.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace effvit
