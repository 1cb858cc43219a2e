#include "runtime/shape_hint.h"

#include <gtest/gtest.h>

namespace effvit {
namespace {

TEST(ShapeHint, NamesTheTwoCommonSlipsOnAnImageInput) {
  const Shape fixed{1, 3, 224, 224}, free_batch{-1, 3, 224, 224}, free_size{-1, 3, -1, -1};
  EXPECT_NE(shape_mismatch_hint(fixed, {1, 224, 224, 3}).find("channels-last (NHWC)"), std::string::npos);
  EXPECT_NE(shape_mismatch_hint(free_batch, {8, 224, 224, 3}).find("x.transpose(0, 3, 1, 2)"), std::string::npos);
  EXPECT_NE(shape_mismatch_hint(free_size, {2, 300, 200, 3}).find("x.transpose(0, 3, 1, 2)"), std::string::npos);
  EXPECT_NE(shape_mismatch_hint(fixed, {3, 224, 224}).find("no batch dimension"), std::string::npos);
  EXPECT_NE(shape_mismatch_hint(free_size, {3, 17, 5}).find("x[None]"), std::string::npos);
  EXPECT_NE(shape_mismatch_hint(fixed, {224, 224, 3}).find("x.transpose(2, 0, 1)[None]"), std::string::npos);
}

TEST(ShapeHint, SaysNothingWhenTheShapeIsNeitherSlip) {
  EXPECT_EQ(shape_mismatch_hint({1, 3, 224, 224}, {1, 3, 100, 100}), "");
  EXPECT_EQ(shape_mismatch_hint({1, 3, 224, 224}, {1, 224, 224, 4}), "");  // RGBA: not a transpose away
  EXPECT_EQ(shape_mismatch_hint({1, 3, 224, 224}, {2, 224, 224, 3}), "");  // the batch is fixed at 1
  EXPECT_EQ(shape_mismatch_hint({1, 3, 224, 224}, {}), "");
  EXPECT_EQ(shape_mismatch_hint({}, {1}), "");
  EXPECT_EQ(shape_mismatch_hint({1, 12}, {5}), "");
}

TEST(ShapeHint, NamesAMissingBatchOnAnyRank) {
  EXPECT_NE(shape_mismatch_hint({-1, 12}, {12}).find("x[None]"), std::string::npos);
  EXPECT_EQ(shape_mismatch_hint({-1, 12}, {12}).find("channels-last"), std::string::npos);
}

}  // namespace
}  // namespace effvit
