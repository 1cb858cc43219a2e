// effvit's Python module (`effvit._effvit`, re-exported by the `effvit` package): NumPy in and out
// over the public C++ API. Arrays cross without copies where their layout allows, and the GIL is
// released while a model runs, so Python threads run inferences in parallel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "effvit/effvit.h"
#include "effvit/version.h"
#include "quant/config.h"
#include "quant/did_you_mean.h"
#include "quant/quantize.h"
#include "tools/shared/benchmark.h"
#include "tools/shared/labels.h"

namespace py = pybind11;
using namespace effvit;

namespace {

// effvit.Error, and under it ONNX Runtime's exception classes (its
// onnxruntime.capi.onnxruntime_pybind11_state), so that `except InvalidArgument` in a ported
// script catches what it caught there, and `except effvit.Error` still catches everything.
std::map<std::string, PyObject*>& error_classes() {
  static std::map<std::string, PyObject*> classes;  // owned by the module for the life of the process
  return classes;
}

// ONNX Runtime's class for the same failure.
PyObject* error_class(const Error& e) {
  const std::string what = e.what();
  const char* name = "Fail";
  if (what.find(": file not found") != std::string::npos || what.find(": No such file or directory") != std::string::npos) name = "NoSuchFile";
  else if (what.find("protobuf parse failed") != std::string::npos) name = "InvalidProtobuf";
  else if (e.has_kind())
    switch (e.kind()) {
      case ErrorKind::invalid_model: name = "InvalidGraph"; break;
      case ErrorKind::invalid_input: name = "InvalidArgument"; break;
      case ErrorKind::unsupported: name = "NotImplemented"; break;
      case ErrorKind::out_of_memory: name = "RuntimeException"; break;
      case ErrorKind::internal: name = "Fail"; break;
    }
  return error_classes().at(name);
}

py::dtype numpy_dtype(DType t) {
  switch (t) {
    case DType::f32: return py::dtype::of<float>();
    case DType::i64: return py::dtype::of<int64_t>();
    case DType::i32: return py::dtype::of<int32_t>();
    case DType::u8: return py::dtype::of<uint8_t>();
    case DType::i8: return py::dtype::of<int8_t>();
    case DType::bool8: return py::dtype::of<bool>();
    case DType::i16: return py::dtype::of<int16_t>();
    case DType::u16: return py::dtype::of<uint16_t>();
    case DType::bf16: break;  // only inside bf16 plans, never a model's input or output
  }
  return py::dtype::of<float>();
}

// ONNX Runtime's names for element types, as NodeArg.type shows them.
const char* onnx_type_name(DType t) {
  switch (t) {
    case DType::f32: return "tensor(float)";
    case DType::i64: return "tensor(int64)";
    case DType::i32: return "tensor(int32)";
    case DType::u8: return "tensor(uint8)";
    case DType::i8: return "tensor(int8)";
    case DType::bool8: return "tensor(bool)";
    case DType::bf16: return "tensor(bfloat16)";
    case DType::i16: return "tensor(int16)";
    case DType::u16: return "tensor(uint16)";
  }
  return "tensor(float)";
}

// The element type by kind and size, not by dtype object identity: a float32 dtype that came
// through pickle, or in another byte order, is still float32.
bool same_element(const py::dtype& a, const py::dtype& b) { return a.kind() == b.kind() && a.itemsize() == b.itemsize(); }

std::string numpy_name(const py::dtype& d) { return py::str(static_cast<const py::object&>(d)).cast<std::string>(); }

// A view of `array` when it is C-contiguous and in native byte order (no copy, read in place, also
// when read-only; `keep` holds the array for the run), else a contiguous native copy. The element
// type must be the input's own, as ONNX Runtime requires: no silent casts.
Tensor as_tensor(py::array array, const TensorInfo& want, const std::string& model, std::vector<py::array>& keep) {
  const py::dtype target = numpy_dtype(want.dtype);
  if (!same_element(array.dtype(), target))
    throw Error(ErrorKind::invalid_input, model + ": input '" + want.name + "' is " + numpy_name(array.dtype()) + ", the model takes " +
                                              dtype_name(want.dtype));
  if (array.dtype().byteorder() == '>' || !(array.flags() & py::array::c_style))
    array = py::array::ensure(array.attr("astype")(target), py::array::c_style);
  keep.push_back(array);
  // The engine only reads its inputs.
  return Tensor::view(want.dtype, Shape(array.shape(), array.shape() + array.ndim()), const_cast<void*>(array.data()));
}

// The array owns a copy of the tensor handle, so the tensor's storage lives as long as the array.
py::array as_array(const Tensor& t) {
  auto* owner = new Tensor(t);
  py::capsule release(owner, [](void* p) { delete static_cast<Tensor*>(p); });
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  return py::array(numpy_dtype(t.dtype()), shape, owner->raw(), release);
}

// As ONNX Runtime shows a shape: sizes, the file's name for a named dynamic dimension ("batch"),
// None for an unnamed one.
py::object dims(const TensorInfo& t) {
  py::list out;
  for (size_t k = 0; k < t.shape.size(); ++k) {
    const std::string name = k < t.dim_names.size() ? t.dim_names[k] : "";
    out.append(t.shape[k] >= 0 ? py::object(py::int_(t.shape[k])) : name.empty() ? py::object(py::none()) : py::object(py::str(name)));
  }
  return out;
}

struct NodeArg {
  std::string name;
  py::object shape;
  std::string type;
};

struct ModelMetadata {
  std::map<std::string, std::string> custom_metadata_map;
  std::string producer_name, graph_name, domain, description, graph_description;
  int64_t version = 0;
};

struct SessionOptionsPy {
  int intra_op_num_threads = 0;  // 0: one thread, effvit's latency setting
  int inter_op_num_threads = 0;  // accepted; effvit runs nodes in order
  int graph_optimization_level = 99;
  bool strict = false;
  int execution_mode = 0, log_severity_level = 2, log_verbosity_level = 0;
  bool enable_cpu_mem_arena = true, enable_mem_pattern = true, enable_profiling = false;
  // ONNX Runtime writes its optimised graph there. effvit's optimisations are made at load, in its
  // own graph form: the Python package writes the model as loaded (see the README's differences).
  std::string optimized_model_filepath;
  // add_session_config_entry's keys, as ONNX Runtime keeps them; effvit reads "effvit.precision".
  std::map<std::string, std::string> config;
};

constexpr const char* kPrecisionKey = "effvit.precision";

// "fp32", "bf16" or "auto" from Python (a SessionOptions entry or Model's precision argument).
Precision precision_from(const std::string& name, const char* where) {
  Precision p = Precision::fp32;
  if (!parse_precision(name, p))
    throw Error(ErrorKind::invalid_input, std::string(where) + ": precision must be fp32, bf16 or auto, got '" + name + "'");
  return p;
}

// ONNX Runtime's InferenceSession over a loaded Model. run() may be called from several Python
// threads at once: each call borrows an idle effvit Session (they share the Model's weights), and
// a new one is made when all are busy.
class InferenceSession {
 public:
  InferenceSession(const py::object& path_or_bytes, const SessionOptionsPy& options) : options_(options) {
    // effvit's own entries misspelt would leave the default in force without a word.
    for (const auto& [key, value] : options.config)
      if (key.rfind("effvit.", 0) == 0 && key != kPrecisionKey)
        PyErr_WarnEx(PyExc_UserWarning,
                     ("session config entry '" + key + "' is not one effvit reads" + quant::did_you_mean(key, {kPrecisionKey}) + "; ignored").c_str(), 1);
    const auto entry = options.config.find(kPrecisionKey);
    precision_ = entry == options.config.end() ? Precision::fp32 : precision_from(entry->second, kPrecisionKey);
    if (py::isinstance<py::bytes>(path_or_bytes)) {
      const std::string bytes = path_or_bytes.cast<std::string>();
      py::gil_scoped_release unlocked;
      model_ = Model::load_from_memory(bytes.data(), bytes.size());
    } else {
      const std::string path = py::str(py::module_::import("os").attr("fspath")(path_or_bytes));
      py::gil_scoped_release unlocked;
      model_ = Model::load(path);
    }
    // The first Session now, so a precision this CPU lacks fails here rather than in run().
    idle_.push_back(make_session());
    resolved_ = idle_.back()->precision();
  }

  py::list run(const py::object& output_names, const py::dict& feed) {
    const ModelSummary& s = model_->summary();
    std::vector<py::array> keep;
    const std::vector<Tensor> inputs = feed_tensors(feed, keep);
    std::vector<size_t> wanted;
    if (py::isinstance<py::str>(output_names)) throw py::type_error("output_names must be a list of names or None, not a string");
    if (output_names.is_none() || py::len(output_names) == 0) {
      for (size_t i = 0; i < s.outputs.size(); ++i) wanted.push_back(i);
    } else {
      for (const auto& item : output_names) wanted.push_back(output_index(py::str(item)));
    }
    std::vector<Tensor> outputs;
    {
      py::gil_scoped_release unlocked;
      outputs = run_session([&](Session& session) { return session.run(inputs); });
    }
    py::list result;
    for (size_t i : wanted) result.append(as_array(outputs[i]));
    return result;
  }

  // IOBinding's run: `bound` maps output names to arrays to fill. With every output bound, the
  // engine writes into them (Session::run_into, no copy); otherwise the bound ones are copied
  // into. Returns every output, the bound ones as the very arrays given.
  py::list run_bound(const py::dict& feed, const py::dict& bound) {
    const ModelSummary& s = model_->summary();
    std::vector<py::array> keep;
    const std::vector<Tensor> inputs = feed_tensors(feed, keep);
    std::vector<py::object> given(s.outputs.size());
    std::vector<Tensor> targets(s.outputs.size());
    for (const auto& [key, value] : bound) {
      const size_t i = output_index(py::str(key));
      py::array array = py::reinterpret_borrow<py::array>(value);
      if (!same_element(array.dtype(), numpy_dtype(s.outputs[i].dtype)) || !(array.flags() & py::array::c_style) ||
          !array.writeable() || array.dtype().byteorder() == '>')
        throw Error(ErrorKind::invalid_input, model_->path() + ": output '" + s.outputs[i].name + "' must be bound to a writable C-contiguous " +
                                                  dtype_name(s.outputs[i].dtype) + " array, got " + numpy_name(array.dtype()));
      given[i] = array;
      targets[i] = Tensor::view(s.outputs[i].dtype, Shape(array.shape(), array.shape() + array.ndim()), array.mutable_data());
    }
    const bool all_bound = std::all_of(given.begin(), given.end(), [](const py::object& o) { return static_cast<bool>(o); });
    std::vector<Tensor> outputs;
    {
      py::gil_scoped_release unlocked;
      outputs = run_session([&](Session& session) {
        if (!all_bound) return session.run(inputs);
        session.run_into(inputs, targets);
        return targets;
      });
    }
    py::list result;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!given[i]) {
        result.append(as_array(outputs[i]));
        continue;
      }
      if (!all_bound) {
        if (outputs[i].shape() != targets[i].shape())
          throw Error(ErrorKind::invalid_input, model_->path() + ": output '" + s.outputs[i].name + "' is " + shape_str(outputs[i].shape()) +
                                                    "; the array bound to it is " + shape_str(targets[i].shape()));
        std::memcpy(targets[i].raw(), outputs[i].raw(), outputs[i].bytes());
      }
      result.append(given[i]);
    }
    return result;
  }

  std::vector<NodeArg> inputs() const { return args(model_->summary().inputs); }
  std::vector<NodeArg> outputs() const { return args(model_->summary().outputs); }
  ModelMetadata meta() const {
    const ModelFileInfo& f = model_->file_info();
    ModelMetadata m;
    m.custom_metadata_map = model_->metadata();
    m.producer_name = f.producer_name;
    m.graph_name = f.graph_name;
    m.domain = f.domain;
    m.description = f.description;
    m.graph_description = f.graph_description;
    m.version = f.version;
    return m;
  }
  const std::shared_ptr<const Model>& model() const { return model_; }
  // What runs: fp32, bf16 (auto resolved) or int8.
  std::string precision() const { return resolved_; }

 private:
  size_t output_index(const std::string& name) const {
    const ModelSummary& s = model_->summary();
    for (size_t i = 0; i < s.outputs.size(); ++i)
      if (s.outputs[i].name == name) return i;
    throw Error(ErrorKind::invalid_input, model_->path() + ": the model has no output named '" + name + "'");
  }

  // {input name: array} as the model's inputs in order (views where the layout allows; `keep`
  // holds what they view).
  std::vector<Tensor> feed_tensors(const py::dict& feed, std::vector<py::array>& keep) const {
    const ModelSummary& s = model_->summary();
    std::vector<Tensor> inputs(s.inputs.size());
    std::vector<bool> given(s.inputs.size(), false);
    for (const auto& [key, value] : feed) {
      const std::string name = py::str(key);
      size_t i = 0;
      while (i < s.inputs.size() && s.inputs[i].name != name) ++i;
      if (i == s.inputs.size()) throw Error(ErrorKind::invalid_input, model_->path() + ": the model has no input named '" + name + "'");
      // Lists and scalars become arrays of the input's type, as ONNX Runtime converts them.
      py::array array = py::isinstance<py::array>(value) ? py::reinterpret_borrow<py::array>(value)
                                                         : py::array(py::module_::import("numpy").attr("asarray")(value, numpy_dtype(s.inputs[i].dtype)));
      inputs[i] = as_tensor(array, s.inputs[i], model_->path(), keep);
      given[i] = true;
    }
    for (size_t i = 0; i < given.size(); ++i)
      if (!given[i]) throw Error(ErrorKind::invalid_input, model_->path() + ": input '" + s.inputs[i].name + "' is missing");
    return inputs;
  }

  // `work` on an idle Session (the GIL released by the caller).
  template <class Work>
  std::vector<Tensor> run_session(Work work) {
    std::unique_ptr<Session> session = borrow();
    try {
      std::vector<Tensor> outputs = work(*session);
      give_back(std::move(session));
      return outputs;
    } catch (...) {
      give_back(std::move(session));
      throw;
    }
  }


  static std::vector<NodeArg> args(const std::vector<TensorInfo>& infos) {
    std::vector<NodeArg> out;
    for (const auto& t : infos) out.push_back({t.name, dims(t), onnx_type_name(t.dtype)});
    return out;
  }

  std::unique_ptr<Session> borrow() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        auto s = std::move(idle_.back());
        idle_.pop_back();
        return s;
      }
    }
    return make_session();
  }
  std::unique_ptr<Session> make_session() {
    SessionOptions o;
    o.threads = options_.intra_op_num_threads > 0 ? options_.intra_op_num_threads : 1;
    o.strict = options_.strict;
    o.precision = precision_;
    return std::make_unique<Session>(model_, o);
  }
  // At most one idle Session per core is kept (each holds its own plans); the rest, made for a
  // burst of threads, are dropped with their memory.
  void give_back(std::unique_ptr<Session> s) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() < std::max(1u, std::thread::hardware_concurrency())) idle_.push_back(std::move(s));
  }

  SessionOptionsPy options_;
  Precision precision_ = Precision::fp32;
  std::string resolved_;  // what the first Session resolved (every later one resolves the same)
  std::shared_ptr<const Model> model_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Session>> idle_;
};

// effvit's own model object: what `effvit info` shows, and the model's own preprocessing.
class ModelPy {
 public:
  ModelPy(const py::object& path_like, const std::string& precision) : precision_(precision_from(precision, "Model")) {
    const std::string path = py::str(py::module_::import("os").attr("fspath")(path_like));
    py::gil_scoped_release unlocked;
    model_ = Model::load(path);
    session_ = std::make_unique<Session>(model_, SessionOptions{.precision = precision_});
  }

  py::dict summary() const {
    using namespace py::literals;
    const ModelSummary& s = model_->summary();
    return py::dict("params"_a = s.params, "macs"_a = s.macs, "variant"_a = s.variant, "precision"_a = session_->precision(), "opset"_a = s.opset,
                    "isa"_a = isa_tier_name(hardware_info().tier), "cpu"_a = hardware_info().cpu_model);
  }
  const std::map<std::string, std::string>& metadata() const { return model_->metadata(); }
  const std::string& path() const { return model_->path(); }

  // An image file, or a uint8 array (height x width x 3 RGB, or height x width gray, as a gray
  // file decodes), made into the tensor the model takes
  // (normalised float32 NCHW, or uint8 pixels / NV12 for a quantized model), batch 1.
  py::array preprocess(const py::object& image, bool letterbox, bool exif_rotate) const {
    Preprocess pre = Preprocess::from_metadata(model_->metadata());
    pre.letterbox = letterbox;
    Image img;
    if (py::isinstance<py::str>(image) || py::hasattr(image, "__fspath__")) {
      const std::string file = py::str(py::module_::import("os").attr("fspath")(image));
      DecodeOptions options;
      options.exif_orientation = exif_rotate;
      py::gil_scoped_release unlocked;
      img = read_image(file, options);
    } else {
      py::array any = py::array::ensure(image);
      const bool gray = any && (any.ndim() == 2 || (any.ndim() == 3 && any.shape(2) == 1));
      if (!any || !same_element(any.dtype(), py::dtype::of<uint8_t>()) || !(gray || (any.ndim() == 3 && any.shape(2) == 3)))
        throw Error(ErrorKind::invalid_input,
                    "preprocess: expected an image path, an RGB uint8 array of shape (height, width, 3) or a gray one of shape (height, width), got " +
                        (any ? numpy_name(any.dtype()) + " " + std::string(py::str(py::tuple(any.attr("shape")))) : "no array"));
      auto pixels = py::array_t<uint8_t, py::array::c_style>::ensure(any);
      img.height = static_cast<int>(pixels.shape(0));
      img.width = static_cast<int>(pixels.shape(1));
      if (gray) {
        // As a gray file decodes: the one channel three times.
        img.rgb.resize(static_cast<size_t>(pixels.size()) * 3);
        for (py::ssize_t i = 0; i < pixels.size(); ++i) img.rgb[3 * i] = img.rgb[3 * i + 1] = img.rgb[3 * i + 2] = pixels.data()[i];
      } else {
        img.rgb.assign(pixels.data(), pixels.data() + pixels.size());
      }
    }
    Tensor t;
    {
      py::gil_scoped_release unlocked;
      t = effvit::preprocess(img, pre);
    }
    return as_array(t);
  }

  std::vector<std::string> labels() const { return cli::class_names(*model_, ""); }

  // Each image (path or RGB array) through the model's own preprocessing and one run; per image,
  // the topk classes as (index, label, probability), most probable first. One image in, one list
  // out; a list of images in, a list of such lists out. With return_exceptions (asyncio.gather's
  // word for it), an image that cannot be read or run takes the place of its list as the
  // effvit.Error it raised, and the others go on, as `effvit classify` does.
  py::object classify(const py::object& images, int topk, bool letterbox, bool return_exceptions) {
    const bool many = py::isinstance<py::list>(images) || py::isinstance<py::tuple>(images);
    const std::vector<std::string> names = labels();
    py::list all;
    for (const py::handle item : many ? py::iterable(images) : py::iterable(py::make_tuple(images))) {
      try {
        all.append(classify_one(py::reinterpret_borrow<py::object>(item), topk, letterbox, names));
      } catch (const Error& e) {
        if (!return_exceptions) throw;
        all.append(py::reinterpret_borrow<py::object>(error_class(e))(e.what()));
      }
    }
    return many ? py::object(all) : py::object(all[0]);
  }

  // The report `effvit bench --json` prints, as a dict.
  py::object bench(int threads, int streams, int iters, int warmup, int batch) const {
    cli::BenchOptions o;
    o.threads = threads;
    o.streams = streams;
    o.iters = iters;
    o.warmup = warmup;
    o.batch = batch;
    o.precision = precision_;
    // Ctrl-C: Python runs its signal handlers only when asked, so the benchmark asks between
    // runs; the KeyboardInterrupt raised there is re-raised once the GIL is back.
    o.interrupted = [] {
      py::gil_scoped_acquire gil;
      return PyErr_CheckSignals() != 0;
    };
    std::string report;
    try {
      py::gil_scoped_release unlocked;
      report = cli::run_benchmark(model_, model_->path(), o).dump();
    } catch (const cli::BenchmarkInterrupted&) {
      if (PyErr_Occurred()) throw py::error_already_set();
      throw;
    }
    return py::module_::import("json").attr("loads")(report);
  }

 private:
  py::list classify_one(const py::object& image, int topk, bool letterbox, const std::vector<std::string>& names) {
    py::array x = preprocess(image, letterbox, true);
    std::vector<py::array> keep;
    const Tensor input = as_tensor(x, model_->summary().inputs.at(0), model_->path(), keep);
    std::vector<cli::RankedClass> ranked;
    {
      py::gil_scoped_release unlocked;
      std::lock_guard<std::mutex> lock(mutex_);
      const Tensor logits = session_->run(input);
      if (logits.dtype() != DType::f32) throw Error(ErrorKind::invalid_model, model_->path() + ": the first output is not float32 logits");
      ranked = cli::top_classes(logits.data<float>(), logits.numel(), topk);
    }
    py::list top;
    for (const auto& r : ranked) top.append(py::make_tuple(r.index, names.at(static_cast<size_t>(r.index)), r.prob));
    return top;
  }

  Precision precision_;
  std::shared_ptr<const Model> model_;
  std::mutex mutex_;
  std::unique_ptr<Session> session_;  // classify's (made first: it checks the precision)
};

// `effvit quantize --config CFG.yaml [-o OUT]`: writes the QDQ model; returns what it did.
py::dict quantize_config(const py::object& config_like, const py::object& output_like, const py::object& progress) {
  const std::string config_path = py::str(py::module_::import("os").attr("fspath")(config_like));
  const std::string output = output_like.is_none() ? "" : std::string(py::str(py::module_::import("os").attr("fspath")(output_like)));
  quant::QuantizeReport r;
  {
    py::gil_scoped_release unlocked;
    const quant::QuantConfig config = quant::load_quant_config(config_path);
    quant::Progress report_progress;
    if (!progress.is_none())
      report_progress = [&progress](const char* phase, size_t done, size_t total) {
        py::gil_scoped_acquire locked;
        progress(phase, done, total);
      };
    r = quant::quantize(config, output, report_progress);
  }
  using namespace py::literals;
  return py::dict("output"_a = r.output_path, "calibration"_a = r.calibration, "samples"_a = r.samples,
                  "quantized_nodes"_a = r.quantized_nodes, "float_nodes"_a = r.float_nodes, "per_channel_weights"_a = r.per_channel,
                  "notes"_a = r.notes, "logits_cosine"_a = r.agreement.logits_cosine, "top1_agreement"_a = r.agreement.top1_agreement);
}

// effvit.Error and ONNX Runtime's classes under it: see error_classes().
void register_errors(py::module_& m) {
  static py::exception<Error> base(m, "Error", PyExc_RuntimeError);
  for (const char* name : {"Fail", "InvalidArgument", "NoSuchFile", "NoModel", "EngineError", "RuntimeException", "InvalidProtobuf", "ModelLoaded",
                           "NotImplemented", "InvalidGraph", "EPFail"}) {
    PyObject* cls = PyErr_NewException(("effvit._effvit." + std::string(name)).c_str(), base.ptr(), nullptr);
    if (!cls) throw py::error_already_set();
    m.attr(name) = py::reinterpret_borrow<py::object>(cls);
    error_classes()[name] = cls;
  }
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      PyErr_SetString(error_class(e), e.what());
    }
  });
}

}  // namespace

PYBIND11_MODULE(_effvit, m) {
  m.doc() = "effvit: EfficientViT-MSRA inference on CPUs (fp32 and int8), with ONNX Runtime's session API.";
  m.attr("__version__") = EFFVIT_VERSION;
  register_errors(m);

  py::class_<SessionOptionsPy>(m, "SessionOptions", "ONNX Runtime-style session options; effvit reads intra_op_num_threads.")
      .def(py::init<>())
      .def_readwrite("intra_op_num_threads", &SessionOptionsPy::intra_op_num_threads,
                     "Threads inside one run (0 or 1: one thread, the latency setting)")
      .def_readwrite("inter_op_num_threads", &SessionOptionsPy::inter_op_num_threads, "Accepted; effvit runs nodes in order")
      .def_readwrite("graph_optimization_level", &SessionOptionsPy::graph_optimization_level, "Accepted; effvit always optimises")
      .def_readwrite("strict", &SessionOptionsPy::strict, "Fail instead of warning when a hot op would run a reference loop")
      .def_readwrite("execution_mode", &SessionOptionsPy::execution_mode, "Accepted; effvit runs nodes in order")
      .def_readwrite("log_severity_level", &SessionOptionsPy::log_severity_level, "Accepted; effvit logs only warnings")
      .def_readwrite("log_verbosity_level", &SessionOptionsPy::log_verbosity_level, "Accepted")
      .def_readwrite("enable_cpu_mem_arena", &SessionOptionsPy::enable_cpu_mem_arena, "Accepted; effvit plans one arena per input shape")
      .def_readwrite("enable_mem_pattern", &SessionOptionsPy::enable_mem_pattern, "Accepted")
      .def_readwrite("enable_profiling", &SessionOptionsPy::enable_profiling, "Accepted; see EFFVIT_PROFILE")
      .def_readwrite("optimized_model_filepath", &SessionOptionsPy::optimized_model_filepath,
                     "Where to write the model once loaded; effvit writes it as it was loaded (its optimisations live in its own graph form)")
      .def(
          "add_session_config_entry", [](SessionOptionsPy& o, const std::string& key, const std::string& value) { o.config[key] = value; },
          py::arg("config_key"), py::arg("config_value"),
          "ONNX Runtime's session config entries. effvit reads 'effvit.precision': 'fp32' (default, exact), 'bf16' (conv "
          "chains in bfloat16; CPUs with native bf16) or 'auto' (bf16 where the CPU has it)")
      .def(
          "get_session_config_entry",
          [](const SessionOptionsPy& o, const std::string& key) {
            const auto it = o.config.find(key);
            if (it == o.config.end()) throw py::key_error("SessionOptions has no config entry '" + key + "'");
            return it->second;
          },
          py::arg("config_key"));

  py::class_<NodeArg>(m, "NodeArg", "An input or output: name, shape (None for a dynamic dimension) and type, as ONNX Runtime shows them")
      .def_readonly("name", &NodeArg::name)
      .def_readonly("shape", &NodeArg::shape)
      .def_readonly("type", &NodeArg::type)
      .def("__repr__", [](const NodeArg& a) {
        return "NodeArg(name='" + a.name + "', type='" + a.type + "', shape=" + std::string(py::repr(a.shape)) + ")";
      });

  py::class_<ModelMetadata>(m, "ModelMetadata", "What the file says about itself (producer, graph name, ...) and its metadata_props "
                                                "(custom_metadata_map), as ONNX Runtime shows them")
      .def_readonly("custom_metadata_map", &ModelMetadata::custom_metadata_map)
      .def_readonly("producer_name", &ModelMetadata::producer_name)
      .def_readonly("graph_name", &ModelMetadata::graph_name)
      .def_readonly("domain", &ModelMetadata::domain)
      .def_readonly("description", &ModelMetadata::description)
      .def_readonly("graph_description", &ModelMetadata::graph_description)
      .def_readonly("version", &ModelMetadata::version);

  py::class_<InferenceSession>(m, "InferenceSession", R"doc(
A loaded model, run like onnxruntime.InferenceSession:

    sess = effvit.InferenceSession("model.onnx")
    name = sess.get_inputs()[0].name
    logits, = sess.run(None, {name: x})

Inputs are NumPy arrays of the model's dtype (float32, or uint8 for int8 models that take pixels);
C-contiguous ones are read in place. run() releases the GIL and may be called from several threads
at once. Errors raise effvit.Error with the same one-line message the CLI prints.)doc")
      .def(py::init([](const py::object& path, py::object sess_options, py::object providers, py::kwargs) {
             SessionOptionsPy o;
             if (!sess_options.is_none()) {
               if (!py::isinstance<SessionOptionsPy>(sess_options)) throw py::type_error("sess_options must be an effvit.SessionOptions");
               o = sess_options.cast<SessionOptionsPy>();
             }
             if (!providers.is_none())
               for (const auto& p : providers) {
                 const std::string name = py::isinstance<py::tuple>(p) ? std::string(py::str(p.cast<py::tuple>()[0])) : std::string(py::str(p));
                 if (name != "CPUExecutionProvider")
                   PyErr_WarnEx(PyExc_UserWarning, ("effvit runs on the CPU; provider '" + name + "' is ignored").c_str(), 1);
               }
             return std::make_unique<InferenceSession>(path, o);
           }),
           py::arg("path_or_bytes"), py::arg("sess_options") = py::none(), py::arg("providers") = py::none())
      .def(
          "run", [](InferenceSession& s, const py::object& names, const py::dict& feed, const py::object&) { return s.run(names, feed); },
          py::arg("output_names"), py::arg("input_feed"), py::arg("run_options") = py::none(),
          "Runs the model on {input name: array}; returns the outputs named in output_names (None: all), as arrays")
      .def("_run_bound", &InferenceSession::run_bound, py::arg("input_feed"), py::arg("bound_outputs"),
           "IOBinding's run: outputs written into the bound arrays (no copy when every output is bound); returns every output")
      .def("get_inputs", &InferenceSession::inputs, "The model's inputs as NodeArg objects")
      .def("get_outputs", &InferenceSession::outputs, "The model's outputs as NodeArg objects")
      .def("get_modelmeta", &InferenceSession::meta, "The model's metadata_props")
      .def(
          "get_providers", [](const InferenceSession&) { return std::vector<std::string>{"CPUExecutionProvider"}; },
          "Always ['CPUExecutionProvider']")
      .def_property_readonly("precision", &InferenceSession::precision,
                             "What runs: 'fp32', 'bf16' (the 'effvit.precision' entry, 'auto' resolved) or 'int8'");

  py::class_<ModelPy>(m, "Model", "An ONNX model loaded by effvit: its summary, metadata and own preprocessing.")
      .def(py::init<const py::object&, const std::string&>(), py::arg("path"), py::arg("precision") = "fp32",
           "precision: 'fp32' (default, exact), 'bf16' (conv chains in bfloat16; CPUs with native bf16) or 'auto'")
      .def_property_readonly("summary", &ModelPy::summary, "params, MACs, variant, precision (what runs), opset and the ISA tier in use")
      .def_property_readonly("metadata", &ModelPy::metadata, "The model's metadata_props")
      .def_property_readonly("path", &ModelPy::path)
      .def("preprocess", &ModelPy::preprocess, py::arg("image"), py::arg("letterbox") = false, py::arg("exif_rotate") = true,
           "An image path or RGB uint8 array (H, W, 3) made into the model's input tensor, batch 1")
      .def_property_readonly("labels", &ModelPy::labels, "Class names: the model's metadata, else ImageNet-1k for 1000 classes")
      .def("classify", &ModelPy::classify, py::arg("images"), py::arg("topk") = 5, py::arg("letterbox") = false,
           py::arg("return_exceptions") = false,
           "An image (path or RGB array) or a list of them; per image the topk (index, label, probability). "
           "return_exceptions=True: a bad image's entry is the effvit.Error it raised, and the others go on")
      .def("bench", &ModelPy::bench, py::arg("threads") = 1, py::arg("streams") = 1, py::arg("iters") = 100, py::arg("warmup") = 5,
           py::arg("batch") = 1, "Latency and throughput: the dict `effvit bench --json` prints");

  m.def("quantize", &quantize_config, py::arg("config_yaml"), py::arg("output") = py::none(), py::arg("progress") = py::none(),
        "Post-training int8 quantization from an RDK-style YAML (as `effvit quantize --config`); writes the QDQ model "
        "and returns a summary. progress(phase, done, total) is called as it goes.");
}
