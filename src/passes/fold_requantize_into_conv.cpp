// An integer Conv writing 8-bit codes that only an effvit.Requantize reads (other tools' QDQ files:
// the conv's output quantized, dequantized for a Relu and quantized again on the Relu's grid) maps
// its codes through the Requantize's 256-entry table itself, while they are still in registers:
// one pass over the tensor fewer. The table is the Requantize's own reference over every code, so
// the bytes are the chain's.
//
//   integer Conv -> q (8-bit) -> effvit.Requantize -> y    ==>    integer Conv -> y
//                                                                 (effvit.table: y's byte for each byte of q,
//                                                                  effvit.table_signed: y is int8)
#include "ops/conv.h"
#include "passes/passes.h"

namespace effvit {

int fold_requantize_into_conv(Graph& g) {
  const auto uses = g.use_counts();
  const auto producers = g.producers();
  const OpDef* requantize = find_op("effvit.Requantize");
  int folded = 0;
  for (Node& r : g.nodes) {
    if (r.op != "effvit.Requantize") continue;
    Node* found = sole_eight_bit_conv(g, r.inputs[0], uses, producers);
    if (!found) continue;
    Node& conv = *found;
    // fold_requantize made r from constant scalars only; its input type is the conv's.
    const DType in_type = conv.attr_int("effvit.y_signed", 0) ? DType::i8 : DType::u8;
    const DType out_type = r.inputs.size() > 4 && r.inputs[4] != kNoValue ? g.value(r.inputs[4]).constant.dtype() : DType::u8;
    Tensor every_code(in_type, {256}), mapped(out_type, {256});
    for (int i = 0; i < 256; ++i) static_cast<uint8_t*>(every_code.raw())[i] = static_cast<uint8_t>(i);
    TensorIn in{&every_code};
    for (size_t i = 1; i < r.inputs.size(); ++i) in.push_back(r.inputs[i] == kNoValue ? nullptr : &g.value(r.inputs[i]).constant);
    requantize->compute(r, in, {&mapped});
    std::vector<int64_t> table(256);
    for (int i = 0; i < 256; ++i) table[static_cast<size_t>(i)] = static_cast<const uint8_t*>(mapped.raw())[i];
    conv.set_ints("effvit.table", std::move(table));
    conv.set_int("effvit.table_signed", out_type == DType::i8 ? 1 : 0);
    absorb_consumer(conv, r);
    ++folded;
  }
  if (folded) g.remove_dead_nodes();
  return folded;
}

}  // namespace effvit
