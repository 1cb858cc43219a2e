#include "runtime/shape_hint.h"

#include <vector>

namespace effvit {
namespace {

// got[order[k]] fits wanted[k] for every k (a free dimension, -1, fits any size).
bool fits_permuted(const Shape& wanted, const Shape& got, const std::vector<size_t>& order) {
  if (got.size() != order.size() || wanted.size() != order.size()) return false;
  for (size_t k = 0; k < order.size(); ++k)
    if (wanted[k] >= 0 && wanted[k] != got[order[k]]) return false;
  return true;
}

}  // namespace

// Checked on every run (Session's input check): no allocation.
bool shape_fits(const Shape& wanted, const Shape& got) {
  if (got.size() != wanted.size()) return false;
  for (size_t k = 0; k < wanted.size(); ++k)
    if (wanted[k] >= 0 && wanted[k] != got[k]) return false;
  return true;
}

std::string shape_mismatch_hint(const Shape& wanted, const Shape& got) {
  if (wanted.empty()) return "";
  const Shape item(wanted.begin() + 1, wanted.end());
  if (shape_fits(item, got)) return "; it has no batch dimension: add one, x[None]";
  // Only an image input (N, C, H, W) has a channels axis to put last by mistake.
  if (wanted.size() != 4) return "";
  if (fits_permuted(wanted, got, {0, 3, 1, 2})) return "; it looks channels-last (NHWC) where the model takes NCHW: x.transpose(0, 3, 1, 2)";
  if (fits_permuted(item, got, {2, 0, 1}))
    return "; it looks like one channels-last image (HWC) where the model takes a batch of NCHW: x.transpose(2, 0, 1)[None]";
  return "";
}

}  // namespace effvit
