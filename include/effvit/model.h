// Loading an EfficientViT-MSRA ONNX model and running it.
//
//   auto model = effvit::Model::load("m0.onnx");           // parse, check, fold shape arithmetic
//   effvit::Session session(model, {.threads = 1});        // per-thread workspace
//   effvit::Tensor logits = session.run(input);            // input: f32 NCHW, any batch the model allows
//
// A Model is immutable once loaded and may be shared by any number of Sessions running concurrently
// (one per thread/stream). A Session is not thread-safe.
//
// Every function here throws only effvit::Error (see error.h for its kinds).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "effvit/error.h"
#include "effvit/tensor.h"

namespace effvit {

struct TensorInfo {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;  // -1 marks a dynamic dimension
  // The file's symbolic name of each dimension ("batch"), "" where it has none (a fixed size, or an
  // unnamed dynamic one). Empty for tensors that are not graph inputs or outputs.
  std::vector<std::string> dim_names;
};

// What the ONNX file says about itself (ModelProto and GraphProto fields), as ONNX Runtime's
// ModelMetadata shows it.
struct ModelFileInfo {
  std::string producer_name, producer_version, domain, description;  // description: doc_string
  std::string graph_name, graph_description;
  int64_t version = 0;  // model_version
};

struct ModelSummary {
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  int64_t params = 0;               // elements of all weight initializers the compute graph uses
  int64_t macs = 0;                 // multiply-accumulates of one batch-1 inference
  std::string variant;              // "m0".."m5", or "none"
  std::string precision;            // "fp32", or "int8" for a quantized (QDQ) model
  std::map<std::string, int> ops;   // op histogram of the runtime graph (after load-time folding)
  int opset = 0;
};

class Model {
 public:
  // Throws effvit::Error naming `path` and the problem (missing, not ONNX, truncated,
  // unsupported op, ...).
  static std::shared_ptr<const Model> load(const std::string& path);
  // The bytes of an ONNX file already in memory (copied; the caller may free them on return).
  // `name` stands for the file in messages and path(). Weights stored as external data need
  // load(path), which knows where to find them.
  static std::shared_ptr<const Model> load_from_memory(const void* data, size_t size, const std::string& name = "<memory>");
  ~Model();

  const std::string& path() const { return path_; }
  const ModelSummary& summary() const { return summary_; }
  // ONNX metadata_props, e.g. preprocessing and class names written by python/export_onnx.py.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const ModelFileInfo& file_info() const { return file_info_; }
  // Concrete input shapes the model was checked at when it loaded: a dynamic batch is 1, a dynamic
  // image size the model's crop (metadata; 224 by default), anything else dynamic 1.
  const std::vector<Shape>& example_input_shapes() const { return example_input_shapes_; }

 private:
  friend class Session;
  // Per input-shape optimised graphs and packed weights, built once and shared by all Sessions.
  struct Runtime;

  Model();
  friend struct ModelLoader;
  std::string path_;
  ModelSummary summary_;
  std::map<std::string, std::string> metadata_;
  ModelFileInfo file_info_;
  std::vector<Shape> example_input_shapes_;
  std::unique_ptr<Runtime> runtime_;
};

// The arithmetic a Session runs a float32 model's convolutions in.
enum class Precision : uint8_t {
  fp32,  // float32 throughout, exact to PyTorch (the default)
  // Conv chains in bfloat16 with float32 sums: weights packed to bf16 once, activations bf16 from
  // conv to conv. The attention heads' softmax, the classifier and the outputs stay float32. Needs
  // native bf16 dot products (ISA tier avx512_bf16 or amx); elsewhere a Session refuses it. Not
  // for int8 models.
  bf16,
  automatic,  // bf16 where the ISA tier has it and the model is float32, else as fp32 ("auto")
};
const char* precision_name(Precision precision);  // "fp32", "bf16", "auto"
// From "fp32", "bf16" or "auto"; false on anything else.
bool parse_precision(const std::string& name, Precision& precision);

struct SessionOptions {
  int threads = 1;  // threads used inside one run() call
  Precision precision = Precision::fp32;
  // A conv, matmul or layout reorder that would run a reference loop (10-1000x slower than the
  // vectorised kernels) is an error naming the node, instead of a one-line warning on stderr.
  // EFFVIT_STRICT=1 in the environment turns it on for every Session.
  bool strict = false;
  // Plans (arena and kernel workspaces) kept for input shapes seen before, in bytes; the least
  // recently used go first, and the plan of the current run is always kept. A server that sees
  // many batch sizes stays within this.
  size_t plan_cache_bytes = size_t{256} << 20;
  // Each run refuses a float input holding NaN or an infinity (Error, naming the input and the
  // element). False: the caller has checked every input already (a server checks each request
  // before joining requests into a batch), and the run does not scan them again.
  bool check_finite = true;
};

class Session {
 public:
  explicit Session(std::shared_ptr<const Model> model, SessionOptions options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs the model on inputs given in the model's input order and returns every output, in the
  // model's output order. Throws effvit::Error (invalid_input) on a wrong count, dtype or shape,
  // naming the input and what was expected.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  // A model of one input and one output.
  Tensor run(const Tensor& input);
  // Inputs by name (each exactly once); every output by name.
  std::map<std::string, Tensor> run_named(const std::map<std::string, Tensor>& inputs);
  // Writes the outputs into tensors the caller provides (Tensor::view over its own memory, say),
  // each of exactly the dtype and shape the run produces (see plan_info). Once a shape has run,
  // running it again this way allocates nothing in effvit.
  void run_into(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs);

  // What a run on inputs of these shapes does: its output shapes, and the kernel each node of the
  // optimised graph runs. Builds (and caches) that plan if it is new.
  struct NodeKernel {
    std::string node;            // node name, or "op#index" when the model left it empty
    std::string op;
    std::string implementation;  // "effvit", "reference", "alias", or the oneDNN kernels used
  };
  struct PlanInfo {
    std::vector<Shape> output_shapes;
    std::vector<NodeKernel> nodes;
    size_t arena_bytes = 0;  // activations and kernel workspace
  };
  PlanInfo plan_info(const std::vector<Shape>& input_shapes);

  // What runs: "fp32", "bf16" (SessionOptions::precision, `automatic` resolved when the Session was
  // made) or "int8" (a quantized model).
  const std::string& precision() const;

  // Plans currently cached (one per input-shape set), and dropping them all.
  size_t cached_plans() const;
  void clear_cache();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace effvit
