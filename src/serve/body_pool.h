// Request bodies' memory, reused from one request to the next. A fresh body of a few hundred KB
// per request, grown by doubling as it arrived, was copied twice over and page-faulted in every
// time: at concurrency 8 on M0 over HTTP that was an eighth of the server's time
// (docs/serving.md). A pooled body also puts the request's binary tensor data on a 64-byte
// boundary, so inputs view it in place whatever the length of the JSON part before it.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace effvit::serve {

class Body {
 public:
  // Empty, with room for `expected` bytes, laid so that byte `aligned_at` falls on 64 bytes.
  void reset(size_t expected, size_t aligned_at);
  // Grows past what reset expected (a chunked body), keeping the alignment.
  void append(const char* data, size_t bytes);
  char* data() { return storage_.get() + start_; }
  std::string_view view() const { return {storage_.get() + start_, size_}; }
  size_t size() const { return size_; }
  size_t capacity_bytes() const { return storage_bytes_; }

 private:
  void reserve(size_t bytes);

  std::unique_ptr<char[]> storage_;
  size_t storage_bytes_ = 0, start_ = 0, size_ = 0, aligned_at_ = 0;
};

class BodyPool {
 public:
  // Keeps at most `kept` bodies between requests, none larger than `kept_bytes`: a rare huge
  // request is given back to the system, not held.
  BodyPool(size_t kept, size_t kept_bytes);
  // A body for one request (see Body::reset); it comes back to the pool when the last owner lets
  // go, which may be after the pool itself is gone.
  std::shared_ptr<Body> take(size_t expected, size_t aligned_at);

 private:
  struct Shelf {
    std::mutex mutex;
    std::vector<std::unique_ptr<Body>> free;
    size_t kept, kept_bytes;
  };
  std::shared_ptr<Shelf> shelf_;
};

}  // namespace effvit::serve
