#include "serve/scheduler.h"

#include <algorithm>
#include <cstring>

#include "serve/status_error.h"

namespace effvit::serve {
namespace {

bool dynamic_batch(const std::vector<TensorInfo>& infos) {
  for (const auto& t : infos)
    if (t.shape.empty() || t.shape[0] >= 0) return false;
  return true;
}

// Same shapes but for the batch dimension.
bool same_rows(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].rank() != b[i].rank() || a[i].rank() == 0 || a[i].dtype() != b[i].dtype()) return false;
    if (!std::equal(a[i].shape().begin() + 1, a[i].shape().end(), b[i].shape().begin() + 1)) return false;
  }
  return true;
}

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// The job's outcome, then its caller's callback.
void finish(ModelScheduler::Job& job, std::vector<Tensor> outputs) {
  job.done.set_value(std::move(outputs));
  if (job.on_done) job.on_done(job);
}

void finish(ModelScheduler::Job& job, std::exception_ptr error) {
  job.done.set_exception(std::move(error));
  if (job.on_done) job.on_done(job);
}

}  // namespace

Tensor stack_rows(const std::vector<Tensor>& parts) {
  if (parts.size() == 1) return parts[0];
  Shape shape = parts.at(0).shape();
  shape[0] = 0;
  for (const Tensor& t : parts) shape[0] += t.dim(0);
  Tensor joined(parts[0].dtype(), shape);
  size_t at = 0;
  for (const Tensor& t : parts) {
    std::memcpy(static_cast<char*>(joined.raw()) + at, t.raw(), t.bytes());
    at += t.bytes();
  }
  return joined;
}

ModelScheduler::ModelScheduler(std::shared_ptr<const Model> model, const SchedulerOptions& options)
    : model_(std::move(model)), options_(options) {
  batchable_ = options_.max_batch_size > 1 && dynamic_batch(model_->summary().inputs) && dynamic_batch(model_->summary().outputs);
  // Each instance plans every batch size it may run before the server says it is ready: a plan
  // built under load would hold up the requests batched into it.
  std::vector<std::unique_ptr<Session>> sessions;
  for (int i = 0; i < options_.instances; ++i) {
    // submit_infer (served_model.cpp) checks each request's inputs before they join a batch.
    sessions.push_back(std::make_unique<Session>(
        model_, SessionOptions{.threads = options_.threads, .precision = options_.precision, .check_finite = false}));
    for (int rows = 1; rows <= (batchable_ ? options_.max_batch_size : 1); ++rows) {
      std::vector<Tensor> inputs;
      for (const auto& info : model_->summary().inputs) {
        Shape shape = info.shape;
        if (!shape.empty() && shape[0] < 0) shape[0] = rows;
        if (std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) break;  // sizes come with the requests
        inputs.emplace_back(info.dtype, shape);
      }
      if (inputs.size() == model_->summary().inputs.size()) sessions.back()->run(inputs);
    }
  }
  precision_ = sessions.front()->precision();
  // Each session's batch inputs are stacked into buffers of max_batch_size rows, made once: a
  // fresh tensor per batch was mapped and page-faulted in every time (a batch of M0 inputs is
  // megabytes), which took a third of the instances' time under load.
  if (batchable_)
    for (size_t i = 0; i < sessions.size(); ++i) {
      std::vector<Tensor> stage;
      for (const auto& info : model_->summary().inputs) {
        Shape shape = info.shape;
        shape[0] = options_.max_batch_size;
        if (std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) {
          stage.clear();  // sizes come with the requests: stacked per batch
          break;
        }
        stage.emplace_back(info.dtype, shape);
      }
      staging_[sessions[i].get()] = std::move(stage);
    }
  sessions_ = std::move(sessions);
  for (auto& session : sessions_) free_sessions_.push_back(session.get());
  for (int i = 0; i < options_.instances; ++i) instances_.emplace_back([this] { instance_loop(); });
}

ModelScheduler::~ModelScheduler() { stop(); }

std::shared_ptr<ModelScheduler::Job> ModelScheduler::submit(std::vector<Tensor> inputs, std::shared_ptr<void> storage,
                                                            Clock::time_point deadline, std::function<void(Job&)> on_done) {
  auto job = std::make_shared<Job>();
  job->storage = std::move(storage);
  job->on_done = std::move(on_done);
  job->owner = this;
  job->rows = inputs.empty() || inputs[0].rank() == 0 ? 1 : inputs[0].dim(0);
  job->inputs = std::move(inputs);
  job->enqueued = Clock::now();
  job->deadline = deadline;
  Session* session = nullptr;
  bool someone_can_take_it = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw StatusError(503, "the server is shutting down");
    ++stats_.pending;
    // Nothing waiting and a session free: the calling thread runs the request itself. Handing it
    // to an instance thread and the answer back costs two wake-ups of sleeping threads (~0.6 ms a
    // request on the 2-vCPU VM of docs/serving.md). Not for a request with a deadline (the queue
    // path answers it on time), nor with several threads per run (each calling thread would grow
    // its own OpenMP team).
    if (queue_.empty() && !free_sessions_.empty() && options_.threads == 1 && deadline == Clock::time_point::max()) {
      session = free_sessions_.back();
      free_sessions_.pop_back();
    } else {
      if (queue_.size() >= options_.max_queue_size) {
        --stats_.pending;
        throw StatusError(503, "the queue is full (" + std::to_string(options_.max_queue_size) + " requests waiting)");
      }
      queue_.push_back(job);
      // Only an instance with a session to run it, or one gathering a batch, can use the job:
      // waking the others only to find every session busy cost two context switches a request.
      someone_can_take_it = !free_sessions_.empty() || gathering_;
    }
  }
  if (!session) {
    // Every instance: the one gathering a batch must see it, not only an idle one that cannot start.
    if (someone_can_take_it) wake_.notify_all();
    return job;
  }
  struct Release {
    ModelScheduler* self;
    Session* session;
    ~Release() { self->release(session); }
  } give_back{this, session};
  std::vector<std::shared_ptr<Job>> batch{job};
  run_batch(*session, batch);
  return job;
}

void ModelScheduler::cancel(const std::shared_ptr<Job>& job) {
  job->abandoned = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = std::find(queue_.begin(), queue_.end(), job);
    if (it == queue_.end()) return;  // running, or done
    queue_.erase(it);
    --stats_.pending;
  }
  finish(*job, std::make_exception_ptr(StatusError(503, "the client cancelled the request", true)));
}

void ModelScheduler::release(Session* session) {
  bool waited_for = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    free_sessions_.push_back(session);
    waited_for = !queue_.empty() || gathering_ || stopping_;
  }
  // Queued requests may have waited for a session, and an instance gathering batch-mates stops
  // waiting now that a session is free to run the next one. With neither, nobody is woken.
  if (waited_for) wake_.notify_all();
}

void ModelScheduler::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && instances_.empty()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : instances_)
    if (t.joinable()) t.join();
  instances_.clear();
}

// The oldest job, and for a batchable model the jobs right behind it with the same shapes, up to
// max_batch_size rows, waiting up to max_queue_delay_us after the oldest arrived for more, but only
// while no other session is free: a free one would run the next request at once, so waiting for
// it would add the delay to every request of a lightly loaded server and batch nothing. Takes a
// free session for the batch into `session`.
std::vector<std::shared_ptr<ModelScheduler::Job>> ModelScheduler::take_batch(std::unique_lock<std::mutex>& lock, Session*& session) {
  std::vector<std::shared_ptr<Job>> batch;
  // One instance gathers at a time: two each holding a session and part of a batch would both
  // wait out the delay, on a server with nothing else to do.
  wake_.wait(lock, [&] { return (stopping_ && queue_.empty()) || (!queue_.empty() && !free_sessions_.empty() && !gathering_); });
  if (queue_.empty()) return batch;
  session = free_sessions_.back();
  free_sessions_.pop_back();
  batch.push_back(queue_.front());
  queue_.pop_front();
  int64_t rows = batch[0]->rows;
  if (!batchable_) return batch;
  gathering_ = true;
  struct Done {
    ModelScheduler* self;
    ~Done() {
      self->gathering_ = false;
      self->wake_.notify_all();
    }
  } done{this};
  const auto until = batch[0]->enqueued + std::chrono::microseconds(options_.max_queue_delay_us);
  while (rows < options_.max_batch_size) {
    if (queue_.empty()) {
      if (stopping_ || !free_sessions_.empty() ||
          !wake_.wait_until(lock, until, [&] { return stopping_ || !queue_.empty() || !free_sessions_.empty(); }))
        break;
      if (queue_.empty()) continue;
    }
    const auto& next = queue_.front();
    if (rows + next->rows > options_.max_batch_size || !same_rows(batch[0]->inputs, next->inputs)) break;
    rows += next->rows;
    batch.push_back(next);
    queue_.pop_front();
  }
  return batch;
}

void ModelScheduler::run_batch(Session& session, std::vector<std::shared_ptr<Job>>& batch) {
  const auto start = Clock::now();
  // Requests whose client gave up, or whose deadline passed while they waited, are not run.
  std::vector<std::shared_ptr<Job>> live;
  for (auto& job : batch) {
    stats_.pending--;
    job->queue_us = micros(start - job->enqueued);
    if (job->abandoned || start > job->deadline) {
      finish(*job, std::make_exception_ptr(StatusError(503, "the request timed out in the queue", true)));
      continue;
    }
    live.push_back(job);
  }
  if (live.empty()) return;
  try {
    std::vector<Tensor> inputs;
    const auto stage = staging_.find(&session);
    for (size_t i = 0; i < live[0]->inputs.size(); ++i) {
      std::vector<Tensor> rows;
      for (const auto& job : live) rows.push_back(job->inputs[i]);
      // The buffer takes the batch when every part is its type and all of them fit; a request the
      // session will refuse (another dtype, inputs disagreeing on their rows) is stacked as it is.
      size_t bytes = 0;
      bool fits = rows.size() > 1 && stage != staging_.end() && i < stage->second.size();
      for (size_t k = 0; fits && k < rows.size(); ++k) {
        bytes += rows[k].bytes();
        fits = rows[k].dtype() == stage->second[i].dtype() && bytes <= stage->second[i].bytes();
      }
      if (!fits) {
        inputs.push_back(stack_rows(rows));
        continue;
      }
      // The batch's rows at the front of the session's buffer, viewed at the batch's shape.
      Tensor& buffer = stage->second[i];
      Shape shape = rows[0].shape();
      shape[0] = 0;
      size_t at = 0;
      for (const Tensor& t : rows) {
        std::memcpy(static_cast<char*>(buffer.raw()) + at, t.raw(), t.bytes());
        at += t.bytes();
        shape[0] += t.dim(0);
      }
      inputs.push_back(Tensor::view(buffer.dtype(), shape, buffer.raw()));
    }
    const auto t0 = Clock::now();
    if (options_.test_run_delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(options_.test_run_delay_us));
    std::vector<Tensor> outputs = session.run(inputs);
    const double compute = micros(Clock::now() - t0);
    ++stats_.exec_count;
    if (live.size() == 1) {
      live[0]->compute_us = compute;
      finish(*live[0], std::move(outputs));
      return;
    }
    int64_t row = 0;
    for (auto& job : live) {
      std::vector<Tensor> mine;
      for (const Tensor& out : outputs) {
        Shape shape = out.shape();
        const size_t row_bytes = out.bytes() / static_cast<size_t>(out.dim(0));
        shape[0] = job->rows;
        Tensor part(out.dtype(), shape);
        std::memcpy(part.raw(), static_cast<const char*>(out.raw()) + static_cast<size_t>(row) * row_bytes, part.bytes());
        mine.push_back(std::move(part));
      }
      row += job->rows;
      job->compute_us = compute;
      finish(*job, std::move(mine));
    }
  } catch (const Error& e) {
    // The engine refused these inputs (a shape it cannot run, say): the clients' error, not ours.
    for (auto& job : live) finish(*job, std::make_exception_ptr(StatusError(e.has_kind() && e.kind() == ErrorKind::invalid_input ? 400 : 500, e.what())));
  } catch (const std::exception& e) {
    for (auto& job : live) finish(*job, std::make_exception_ptr(StatusError(500, e.what())));
  }
}

void ModelScheduler::instance_loop() {
  for (;;) {
    std::vector<std::shared_ptr<Job>> batch;
    Session* session = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      batch = take_batch(lock, session);
      if (batch.empty()) return;  // stopping, and nothing left
      // A request left behind (it would not fit this batch) is another instance's to take now.
      if (!queue_.empty()) wake_.notify_all();
    }
    run_batch(*session, batch);
    release(session);
  }
}

}  // namespace effvit::serve
