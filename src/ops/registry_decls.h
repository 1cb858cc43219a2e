// Every op effvit implements, one OpDef each, defined in the op's own file.
#pragma once

#include "ops/op.h"

namespace effvit {

extern const OpDef kAddOp, kBatchNormOp, kDropoutOp, kCastOp, kConcatOp, kConstantOfShapeOp, kConvOp, kDivOp,
    kEqualOp, kExpandOp, kFlattenOp, kGatherOp, kGemmOp, kGlobalAveragePoolOp, kIdentityOp,
    kMatMulOp, kModOp, kMulOp, kPadOp, kRangeOp, kReduceMeanOp, kReluOp, kLeakyReluOp, kReshapeOp, kShapeOp,
    kSigmoidOp, kSliceOp, kSoftmaxOp, kSplitOp, kSqueezeOp, kSubOp, kTransposeOp, kUnsqueezeOp,
    kWhereOp, kToBlockedOp, kToPlainOp, kQuantizeLinearOp, kDequantizeLinearOp, kClipOp, kNv12ToRgbOp, kToNhwcOp, kNhwcToPlainOp,
    kAttentionHeadOp, kQuantizeImageOp, kRequantizeOp, kQuantizeDequantizeOp, kDynamicQuantizeLinearOp, kMatMulIntegerOp, kConvIntegerOp, kQuantizedAddOp;

}  // namespace effvit
