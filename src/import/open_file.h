// A model file opened for reading, with the one-line errors a user should see (missing, a
// directory, unreadable).
#pragma once

#include <cstddef>
#include <string>

namespace effvit {

class OpenFile {
 public:
  // Throws effvit::Error naming `path` when it is missing, a directory, or unreadable.
  explicit OpenFile(const std::string& path);
  ~OpenFile();
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;

  int fd() const { return fd_; }
  size_t size() const { return size_; }

 private:
  int fd_ = -1;
  size_t size_ = 0;
};

}  // namespace effvit
