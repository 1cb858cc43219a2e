// One model's request queue and its instances: a pool of Sessions of the shared Model (one per
// instance, warmed up on every batch size it may run) and a thread per instance. A request that
// finds nothing queued and a session free runs at once on the thread that received it; others
// wait in a bounded queue, from which an instance thread takes the oldest and, for a dynamic-batch
// model, more of the same shape until --max-batch-size or --max-queue-delay-us (waiting only while
// no session is free), runs them as one batch and hands each request its rows of the outputs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "effvit/model.h"

namespace effvit::serve {

using Clock = std::chrono::steady_clock;

// The tensors one after another along dimension 0 (same dtype and other dimensions): requests
// joined into a batch, images into one input.
Tensor stack_rows(const std::vector<Tensor>& parts);

struct SchedulerOptions {
  int instances = 1;
  int threads = 1;             // per instance
  Precision precision = Precision::fp32;
  int max_batch_size = 1;      // rows per execution (1: no batching)
  int64_t max_queue_delay_us = 0;
  size_t max_queue_size = 64;  // requests waiting; more are refused at once (503)
  // Tests only (EFFVIT_TEST_RUN_DELAY_MS): every run first sleeps this long, so a test that needs
  // work to outlast a deadline gets it on any CPU instead of assuming how fast the model runs.
  int64_t test_run_delay_us = 0;
};

// Triton's per-model counters (cumulative microseconds for the durations).
struct ModelStats {
  std::atomic<uint64_t> success{0}, failure_rejected{0}, failure_timeout{0}, failure_backend{0}, failure_input{0};
  std::atomic<uint64_t> inference_count{0}, exec_count{0};
  std::atomic<uint64_t> request_us{0}, queue_us{0}, compute_us{0};
  std::atomic<int64_t> pending{0};
};

class ModelScheduler {
 public:
  struct Job {
    std::vector<Tensor> inputs;  // in the model's input order
    std::shared_ptr<void> storage;  // what the inputs view, kept until the job is done
    int64_t rows = 1;            // batch rows (dimension 0), for batching
    Clock::time_point enqueued, deadline;
    std::promise<std::vector<Tensor>> done;
    // Called once `done` holds the outputs or the error, on whichever thread set it (the
    // submitting one for a request run at once): how an asynchronous caller learns of it.
    std::function<void(Job&)> on_done;
    ModelScheduler* owner = nullptr;  // whose queue it waits in
    std::atomic<bool> abandoned{false};  // the client stopped waiting (timeout)
    double queue_us = 0, compute_us = 0;
  };

  ModelScheduler(std::shared_ptr<const Model> model, const SchedulerOptions& options);
  ~ModelScheduler();
  ModelScheduler(const ModelScheduler&) = delete;
  ModelScheduler& operator=(const ModelScheduler&) = delete;

  // Runs a request at once on the calling thread when nothing is queued and a session is free
  // (one thread per run, no deadline), else queues it; the returned job's `done` is then ready or
  // pending. Throws StatusError(503) when the queue is full or the scheduler is stopping. The
  // sessions do not scan float inputs for NaN or infinities: the caller has (submit_infer).
  std::shared_ptr<Job> submit(std::vector<Tensor> inputs, std::shared_ptr<void> storage, Clock::time_point deadline,
                              std::function<void(Job&)> on_done = {});
  // The client went away: a job still queued leaves the queue at once (its `done` gets a 503
  // marked timed out); one already running finishes unread.
  void cancel(const std::shared_ptr<Job>& job);
  // Runs what is queued, then stops the instances.
  void stop();
  ModelStats& stats() { return stats_; }
  // What the instances run: fp32, bf16 or int8.
  const std::string& precision() const { return precision_; }

 private:
  void instance_loop();
  std::vector<std::shared_ptr<Job>> take_batch(std::unique_lock<std::mutex>& lock, Session*& session);
  void run_batch(Session& session, std::vector<std::shared_ptr<Job>>& batch);
  void release(Session* session);

  std::shared_ptr<const Model> model_;
  SchedulerOptions options_;
  bool batchable_ = false;  // dynamic batch dimension on every input and output
  std::string precision_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Session>> sessions_;  // one per instance
  std::vector<Session*> free_sessions_;              // not running a batch (under mutex_)
  std::map<const Session*, std::vector<Tensor>> staging_;  // per session, per input: max_batch_size rows
  bool gathering_ = false;                           // an instance is gathering a batch (under mutex_)
  std::vector<std::thread> instances_;
  ModelStats stats_;
};

}  // namespace effvit::serve
