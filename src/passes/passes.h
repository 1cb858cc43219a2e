// Graph rewrites, one per file, each a function that leaves the graph alone where its pattern does
// not match. `specialize` runs first (it makes every shape concrete); the rest assume known shapes.
#pragma once

#include <functional>
#include <vector>

#include "ir/graph.h"

namespace effvit {

// Binds concrete input shapes, infers every shape, evaluates every node whose inputs are all
// constant (this is where the exporter's Shape/Gather/Concat/... arithmetic disappears), and drops
// what the outputs no longer need. Throws effvit::Error on a shape the model cannot take.
Graph specialize(const Graph& graph, const std::vector<Shape>& input_shapes);

// Conv -> BatchNormalization with constant parameters becomes one Conv with folded weights/bias.
int fold_batchnorm_into_conv(Graph& graph);
// Conv -> Relu becomes Conv with effvit.activation = "Relu".
// Inserts one conversion node per (value, layout) right before its first reader, wherever a reader
// wants (`wants(node, input)`) another layout than the value has, and turns non-plain graph
// outputs back to plain. Shared by the layout passes; `block` is the channel block of Blocked.
void insert_layout_conversions(Graph& graph, const std::function<Layout(const Node&, size_t)>& wants, int block);
// Integer Conv -> QuantizeLinear (same scale for every reader, zero point 0) -> the Conv writes the
// quantized tensor (effvit.y_scale, effvit.y_signed). Returns how many.
int fold_quantize_into_conv(Graph& graph);
// Whether the graph has integer Convs (fold_qdq_into_conv), and the NHWC layout for their chains
// (nhwc_layout.cpp; used instead of assign_blocked_layout for such graphs). Returns values changed.
bool has_integer_conv(const Graph& graph);
int assign_nhwc_layout(Graph& graph);
// The NV12 -> RGB ops `effvit quantize` writes -> one effvit.Nv12ToRgb node (exactly that subgraph
// only). Returns 1 when fused.
int fuse_nv12_input(Graph& graph);
// [effvit.Nv12ToRgb | Cast uint8 to float] -> Sub(mean) -> Mul(scale) -> QuantizeLinear (the input
// chain `effvit quantize` writes) -> one effvit.QuantizeImage. Returns how many.
int fuse_image_quantize(Graph& graph);
// An int8 activation with a non-zero zero point (ONNX Runtime's default QDQ), written by a
// QuantizeLinear and read only by DequantizeLinears, becomes uint8 with the zero point 128 higher:
// the same numbers, in the form fold_qdq_into_conv folds. Returns how many.
int shift_int8_activations_to_uint8(Graph& graph);
// Conv between DequantizeLinear nodes (QDQ) -> an integer Conv reading the quantized activation and
// int8 weights (effvit.x_scale, per-channel weight scales as input 3). Returns how many.
int fold_qdq_into_conv(Graph& graph);
// DequantizeLinear -> [Relu] -> QuantizeLinear on 8-bit per-tensor parameters -> effvit.Requantize.
int fold_requantize(Graph& graph);
// Integer Conv (8-bit output) -> effvit.Requantize -> the Conv maps its codes through the
// Requantize's table (effvit.table, effvit.table_signed). Returns how many.
int fold_requantize_into_conv(Graph& graph);
// Integer Conv (8-bit output) -> effvit.QuantizedAdd -> the Conv adds the residual itself (its
// inputs 4 to 10, ops/conv.h). Needs shapes. Returns how many.
int fold_quantized_add_into_conv(Graph& graph);
// DequantizeLinear(a), DequantizeLinear(b) -> Add -> QuantizeLinear on 8-bit per-tensor parameters
// -> effvit.QuantizedAdd. Returns how many.
int fold_quantized_add(Graph& graph);
// A QuantizeLinear read only by DequantizeLinears (per tensor, 8 or 16 bits) -> one
// effvit.QuantizeDequantize per reader, float32 to float32. Returns how many.
int fold_quantize_dequantize(Graph& graph);
int fuse_conv_relu(Graph& graph);
// Transpose|Reshape -> effvit.QuantizeDequantize becomes the round trip first, then the
// Transpose|Reshape (they commute), where the moved op's output has no other reader. Returns moves.
int hoist_quantize_dequantize(Graph& graph);
// Transpose(perm swapping the last two axes) -> MatMul becomes a MatMul reading the untransposed
// operand with effvit.trans_a / effvit.trans_b (oneDNN reads it through strides).
int fold_transpose_into_matmul(Graph& graph);
// Softmax(MatMul * scalar + constant bias): the scale becomes the MatMul's effvit.scale, the bias a
// second Softmax input. Needs specialised shapes.
int fuse_attention_scores(Graph& graph);
// One cascaded-attention head (Split -> depthwise Conv on q -> scores MatMul -> Softmax -> MatMul
// with v, as fuse_attention_scores leaves it) becomes one effvit.AttentionHead. Needs specialised
// shapes; run after fuse_attention_scores. Returns how many heads.
int fuse_attention_head(Graph& graph);
// Identity nodes, and Dropouts whose mask nobody reads, disappear (readers read the input).
int remove_identity(Graph& graph);

// Marks Conv outputs (and the Adds/Relus between them) blocked nChw<block>c and inserts layout
// conversions where readers need plain NCHW. Runs last: kernels chosen afterwards honour
// Value::layout. `block` is the hardware tier's channel block (cpu/hardware.h).
int assign_blocked_layout(Graph& graph, int block);

// A bf16 plan: float Convs compute in bf16 (effvit.compute) and every blocked activation becomes
// bf16, so conv chains pass bf16 along. Runs after assign_blocked_layout; returns what it changed.
int assign_bf16_activations(Graph& graph);

// The rewrites that need no shapes (Identity removal, BN folding, Conv+Relu fusion). A Model runs
// them once, so every input shape shares the folded weights.
void optimize_structure(Graph& graph);
// The rewrites for one set of input shapes (after specialize): attention-score fusion, then
// assign_blocked_layout with the hardware tier's channel `block`, then (`bf16`, float graphs only)
// assign_bf16_activations.
void optimize_for_shapes(Graph& graph, int block, bool bf16 = false);
// Both stages on a specialised graph: optimize_structure, then optimize_for_shapes.
void optimize(Graph& graph, int block);

// Replaces every read of `from` (node inputs and graph outputs) by `to`.
void replace_uses(Graph& graph, ValueId from, ValueId to);

// The `op` node (any op when `op` is null) that produces `value` when nothing else reads `value`;
// otherwise null.
Node* sole_producer(Graph& graph, ValueId value, const char* op, const std::vector<int>& uses,
                    const std::vector<int>& producers);
// The Conv that produces `value` when `value` has no other reader and the Conv has no fused
// activation yet (so something more may fold into it); otherwise null.
Node* sole_conv_producer(Graph& graph, ValueId value, const std::vector<int>& uses, const std::vector<int>& producers);
// The integer Conv writing 8-bit `codes` (no code table, no residual yet, so one may fold into it)
// when nothing else reads them, graph outputs included; otherwise null.
Node* sole_eight_bit_conv(Graph& graph, ValueId codes, const std::vector<int>& uses, const std::vector<int>& producers);
// Makes `producer` write the value `consumer` wrote; `consumer` is left dead for remove_dead_nodes.
void absorb_consumer(Node& producer, Node& consumer);
// A Quantize/DequantizeLinear with a constant float32 scale and, if present, a constant zero point,
// both scalars, on 8-bit codes. The codes' type comes from the zero point (a QuantizeLinear without
// one writes uint8): the folds run before types are inferred.
bool per_tensor_8bit(const Graph& graph, const Node& node);

}  // namespace effvit
