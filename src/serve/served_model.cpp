#include "serve/served_model.h"

#include <algorithm>
#include <cmath>
#include <semaphore>
#include <thread>

#include "effvit/image.h"
#include "runtime/non_finite.h"
#include "serve/status_error.h"

namespace effvit::serve {
namespace {

// Decoding runs on the front ends' threads, before a request reaches the queue that bounds the
// rest: at most one decode per core at a time keeps its memory bounded too.
std::counting_semaphore<> decode_slots(std::max(1u, std::thread::hardware_concurrency()));

uint64_t whole_us(double us) { return static_cast<uint64_t>(us); }

}  // namespace

ServedModel& ModelRegistry::find(const std::string& name, const std::string& version) const {
  for (const auto& m : models)
    if (m->name == name) {
      if (!version.empty() && version != m->version)
        throw StatusError(404, "model '" + name + "' has no version '" + version + "' (serving " + m->version + ")");
      return *m;
    }
  throw StatusError(404, "no model named '" + name + "'");
}

std::shared_ptr<ModelScheduler::Job> submit_infer(ServedModel& m, InferRequest& request, Clock::time_point deadline,
                                                  std::function<void(ModelScheduler::Job&)> on_done) {
  std::vector<Tensor> inputs;
  for (const auto& info : m.model->summary().inputs) {
    inputs.push_back(request.inputs.at(info.name));
    if (inputs.back().dtype() != DType::f32) continue;
    const int64_t at = first_non_finite(inputs.back().data<float>(), inputs.back().numel());
    if (at >= 0)
      throw StatusError(400, "input '" + info.name + "' holds " + non_finite_at(inputs.back().data<float>(), inputs.back().shape(), at) +
                                 "; effvit refuses non-finite inputs");
  }
  // Requests are batched by the rows of their first input: every input with a batch dimension
  // must have as many, or batch-mates would be stacked out of step.
  const auto& infos = m.model->summary().inputs;
  for (size_t i = 1; i < inputs.size(); ++i)
    if (!infos[i].shape.empty() && infos[i].shape[0] < 0 && !infos[0].shape.empty() && infos[0].shape[0] < 0 &&
        inputs[i].dim(0) != inputs[0].dim(0))
      throw StatusError(400, "input '" + infos[i].name + "' has " + std::to_string(inputs[i].dim(0)) + " rows but input '" + infos[0].name +
                                 "' has " + std::to_string(inputs[0].dim(0)));
  return m.scheduler->submit(std::move(inputs), request.storage, deadline, std::move(on_done));
}

void count_success(ModelStats& stats, const ModelScheduler::Job& job, Clock::time_point start) {
  ++stats.success;
  stats.inference_count += static_cast<uint64_t>(job.rows);
  stats.queue_us += whole_us(job.queue_us);
  stats.compute_us += whole_us(job.compute_us);
  stats.request_us += whole_us(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
}

void count_failure(ModelStats& stats, const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const StatusError& e) {
    (e.status() == 400 ? stats.failure_input : e.timed_out() ? stats.failure_timeout
                                             : e.status() == 503 ? stats.failure_rejected
                                                                 : stats.failure_backend)++;
  } catch (const Error& e) {
    (e.has_kind() && e.kind() == ErrorKind::invalid_input ? stats.failure_input : stats.failure_backend)++;
  } catch (...) {
    ++stats.failure_backend;
  }
}

Tensor decode_images(const Model& model, const std::vector<std::string>& encoded, const ImageRules& rules) {
  Preprocess pre = Preprocess::from_metadata(model.metadata());
  pre.letterbox = rules.letterbox;
  DecodeOptions options;
  options.max_pixels = rules.max_pixels;
  options.max_pixels_option = "--max-image-pixels";
  options.exif_orientation = rules.exif_orientation;
  std::vector<Tensor> each;
  decode_slots.acquire();
  struct Release {
    ~Release() { decode_slots.release(); }
  } release;
  for (size_t i = 0; i < encoded.size(); ++i) {
    const std::vector<uint8_t> bytes(encoded[i].begin(), encoded[i].end());
    try {
      each.push_back(preprocess(decode_image(bytes, "image " + std::to_string(i), options), pre));
    } catch (const Error& e) {
      throw StatusError(400, e.what());
    }
  }
  if (each.empty()) throw StatusError(400, "a BYTES input of no images");
  return stack_rows(each);
}

}  // namespace effvit::serve
