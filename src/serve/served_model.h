// The models `effvit serve` holds, and the path a parsed infer request takes to a model's scheduler
// and back, shared by the HTTP and the gRPC front ends: the same checks, queue and counters.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "serve/scheduler.h"
#include "serve/v2_protocol.h"

namespace effvit::serve {

struct ServedModel {
  std::string name, version, path;
  std::shared_ptr<const Model> model;
  std::vector<std::string> labels;  // class names, when the model has them
  std::unique_ptr<ModelScheduler> scheduler;
};

class ModelRegistry {
 public:
  std::vector<std::unique_ptr<ServedModel>> models;
  // The model of that name (and version, unless empty). Throws StatusError(404) naming what is
  // missing.
  ServedModel& find(const std::string& name, const std::string& version) const;
};

// The request's inputs in the model's order to the model's scheduler. Refuses a non-finite float
// input with StatusError(400) (per request: a batch-mate's NaN must not fail the others' rows);
// the scheduler's own errors (503 for a full queue) pass through. `on_done` runs when the job
// holds its outcome, possibly before this returns.
std::shared_ptr<ModelScheduler::Job> submit_infer(ServedModel& model, InferRequest& request, Clock::time_point deadline,
                                                  std::function<void(ModelScheduler::Job&)> on_done = {});

// The model's counters for a finished request: a success (its rows, queue and compute time) or a
// failure, by why it failed (input, timeout, rejected, backend).
void count_success(ModelStats& stats, const ModelScheduler::Job& job, Clock::time_point start);
void count_failure(ModelStats& stats, const std::exception_ptr& error);

// Images a request may send by default (--max-image-pixels): a 50-megapixel phone photo, while
// at most one decode per core at a time stays within a few hundred MB (3 bytes a pixel).
constexpr int64_t kDefaultMaxImagePixels = int64_t{64} << 20;

// How images sent as BYTES are read: serve's --max-image-pixels, and the image options it shares
// with classify, eval and run (--no-exif-rotate, --resize), so a server answers as the CLI does.
struct ImageRules {
  int64_t max_pixels = kDefaultMaxImagePixels;
  bool exif_orientation = true;
  bool letterbox = false;
};

// Encoded images (a BYTES input) decoded and preprocessed by the model's own rules and `rules`, one
// per batch row; at most one decode per core at a time.
Tensor decode_images(const Model& model, const std::vector<std::string>& encoded, const ImageRules& rules);

}  // namespace effvit::serve
