#include "serve/body_pool.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace effvit::serve {
namespace {

constexpr size_t kAlign = 64;

// How far into `base` a body must start for its byte `aligned_at` to land on kAlign.
size_t start_for(const char* base, size_t aligned_at) {
  return (kAlign - (reinterpret_cast<uintptr_t>(base) + aligned_at) % kAlign) % kAlign;
}

}  // namespace

void Body::reserve(size_t bytes) {
  if (bytes + kAlign <= storage_bytes_) return;
  // Uninitialised on purpose: every byte handed out is written by the request first.
  std::unique_ptr<char[]> grown(new char[bytes + kAlign]);
  const size_t start = start_for(grown.get(), aligned_at_);
  if (size_ > 0) std::memcpy(grown.get() + start, data(), size_);
  storage_ = std::move(grown);
  storage_bytes_ = bytes + kAlign;
  start_ = start;
}

void Body::reset(size_t expected, size_t aligned_at) {
  size_ = 0;
  aligned_at_ = aligned_at;
  reserve(expected);
  start_ = start_for(storage_.get(), aligned_at);
}

void Body::append(const char* data, size_t bytes) {
  if (start_ + size_ + bytes > storage_bytes_) reserve(std::max(size_ + bytes, 2 * size_));
  std::memcpy(this->data() + size_, data, bytes);
  size_ += bytes;
}

BodyPool::BodyPool(size_t kept, size_t kept_bytes) : shelf_(std::make_shared<Shelf>()) {
  shelf_->kept = kept;
  shelf_->kept_bytes = kept_bytes;
}

std::shared_ptr<Body> BodyPool::take(size_t expected, size_t aligned_at) {
  std::unique_ptr<Body> body;
  {
    std::lock_guard<std::mutex> lock(shelf_->mutex);
    if (!shelf_->free.empty()) {
      body = std::move(shelf_->free.back());
      shelf_->free.pop_back();
    }
  }
  if (!body) body = std::make_unique<Body>();
  body->reset(expected, aligned_at);
  return std::shared_ptr<Body>(body.release(), [shelf = shelf_](Body* returned) {
    std::unique_ptr<Body> owned(returned);
    if (owned->capacity_bytes() > shelf->kept_bytes) return;
    std::lock_guard<std::mutex> lock(shelf->mutex);
    if (shelf->free.size() < shelf->kept) shelf->free.push_back(std::move(owned));
  });
}

}  // namespace effvit::serve
