#include <map>

#include "ops/registry_decls.h"

namespace effvit {
namespace {

const std::map<std::string, const OpDef*>& table() {
  static const std::map<std::string, const OpDef*> ops = [] {
    std::map<std::string, const OpDef*> m;
    for (const OpDef* d :
         {&kAddOp, &kBatchNormOp, &kDropoutOp, &kCastOp, &kConcatOp, &kConstantOfShapeOp, &kConvOp, &kDivOp,
          &kEqualOp, &kExpandOp, &kFlattenOp, &kGatherOp, &kGemmOp, &kGlobalAveragePoolOp,
          &kIdentityOp, &kMatMulOp, &kModOp, &kMulOp, &kPadOp, &kRangeOp, &kReduceMeanOp, &kReluOp, &kLeakyReluOp,
          &kReshapeOp, &kShapeOp, &kSigmoidOp, &kSliceOp, &kSoftmaxOp, &kSplitOp, &kSqueezeOp,
          &kSubOp, &kTransposeOp, &kUnsqueezeOp, &kWhereOp, &kToBlockedOp, &kToPlainOp, &kQuantizeLinearOp,
          &kDequantizeLinearOp, &kClipOp, &kNv12ToRgbOp, &kToNhwcOp,
          &kNhwcToPlainOp, &kAttentionHeadOp, &kQuantizeImageOp, &kRequantizeOp, &kQuantizeDequantizeOp, &kDynamicQuantizeLinearOp, &kMatMulIntegerOp, &kConvIntegerOp, &kQuantizedAddOp})
      m[d->name] = d;
    return m;
  }();
  return ops;
}

}  // namespace

const OpDef* find_op(const std::string& op) {
  auto it = table().find(op);
  return it == table().end() ? nullptr : it->second;
}

std::vector<std::string> supported_ops() {
  std::vector<std::string> names;
  for (const auto& [name, def] : table()) names.push_back(name);
  return names;
}

}  // namespace effvit
