// serve/body_pool: request bodies reused, their binary part aligned wherever the JSON ends.
#include "serve/body_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace effvit::serve {
namespace {

bool aligned64(const char* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

TEST(BodyPool, PutsTheChosenByteOn64Bytes) {
  BodyPool pool(4, 1 << 20);
  for (size_t at : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{191}}) {
    auto body = pool.take(1000, at);
    EXPECT_TRUE(aligned64(body->data() + at)) << at;
  }
}

TEST(BodyPool, GrowsPastTheExpectedSizeKeepingBytesAndAlignment) {
  BodyPool pool(4, 1 << 20);
  auto body = pool.take(8, 5);
  std::string sent;
  for (int k = 0; k < 1000; ++k) {
    const std::string piece = "piece " + std::to_string(k) + ";";
    body->append(piece.data(), piece.size());
    sent += piece;
  }
  EXPECT_EQ(body->view(), sent);
  EXPECT_TRUE(aligned64(body->data() + 5));
}

TEST(BodyPool, ReusesReturnedBodiesButNotOversizedOnes) {
  BodyPool pool(2, 4096);
  const char* first = nullptr;
  {
    auto body = pool.take(1000, 0);
    first = body->data();
  }
  {
    auto body = pool.take(1000, 0);
    EXPECT_EQ(body->data(), first) << "a returned body is taken again";
    EXPECT_EQ(body->size(), 0u) << "and comes back empty";
  }
  {
    auto small = pool.take(10, 0);
    auto big = pool.take(1 << 20, 0);  // over kept_bytes: freed when returned, not kept
  }
  auto a = pool.take(10, 0), b = pool.take(10, 0);
  EXPECT_LT(a->capacity_bytes(), 4096u);
  EXPECT_LT(b->capacity_bytes(), 4096u);
}

TEST(BodyPool, BodiesOutliveThePool) {
  std::shared_ptr<Body> body;
  {
    BodyPool pool(2, 1 << 20);
    body = pool.take(100, 0);
  }
  body->append("still usable", 12);
  EXPECT_EQ(body->view(), "still usable");
  body.reset();  // returned to a shelf nobody else holds: freed with it
}

}  // namespace
}  // namespace effvit::serve
