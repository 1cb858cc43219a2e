#include "import/open_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "effvit/error.h"

namespace effvit {

OpenFile::OpenFile(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    if (errno == ENOENT) throw Error(ErrorKind::invalid_input, path + ": file not found");
    throw Error(ErrorKind::invalid_input, path + ": cannot open file: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    throw Error(ErrorKind::invalid_input, path + ": cannot read file: " + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd_);
    throw Error(ErrorKind::invalid_input, path + ": is a directory, expected an .onnx file");
  }
  size_ = static_cast<size_t>(st.st_size);
}

OpenFile::~OpenFile() { ::close(fd_); }

}  // namespace effvit
