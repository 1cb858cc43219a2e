// Helpers shared by the fuzz harnesses (fuzz/*_fuzzer.cpp): feeding bytes to parsers that only
// take a path.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace effvit::fuzz {

// One anonymous in-memory file (memfd) for the whole process, rewritten for each input and named by
// its /proc/self/fd path: nothing touches the disk, and every open() of the path starts at offset 0.
class MemFile {
 public:
  MemFile() {
    fd_ = memfd_create("effvit-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  const std::string& write(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace effvit::fuzz
