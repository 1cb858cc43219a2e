#include "effvit/version.h"
#include "serve/grpc_server.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "grpc_service.grpc.pb.h"
#include "serve/grpc_protocol.h"
#include "serve/listen_check.h"
#include "serve/status_error.h"

namespace effvit::serve {
namespace {

using Service = inference::GRPCInferenceService::AsyncService;

// What a completion queue hands back: each pending operation's tag is one of these.
class Event {
 public:
  virtual ~Event() = default;
  virtual void on(bool ok) = 0;
};

class StreamCall;

struct Shared {
  const ModelRegistry& registry;
  const std::atomic<bool>& ready;
  ImageDecoder decode;  // BYTES inputs, by --max-image-pixels, --no-exif-rotate and --resize
  Service service{};
  std::atomic<int> in_flight{0};
  // Open ModelStreamInfer streams: a drain ends the idle ones (an open stream is a call in flight).
  std::mutex streams_mutex{};
  std::set<StreamCall*> streams{};
};

// An error as Triton's gRPC front end reports it.
grpc::Status status_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const StatusError& e) {
    const grpc::StatusCode code = e.status() == 400   ? grpc::StatusCode::INVALID_ARGUMENT
                                  : e.status() == 404 ? grpc::StatusCode::NOT_FOUND
                                  : e.timed_out()     ? grpc::StatusCode::DEADLINE_EXCEEDED
                                  : e.status() == 503 ? grpc::StatusCode::UNAVAILABLE
                                                      : grpc::StatusCode::INTERNAL;
    return {code, e.what()};
  } catch (const Error& e) {
    return {e.has_kind() && e.kind() == ErrorKind::invalid_input ? grpc::StatusCode::INVALID_ARGUMENT : grpc::StatusCode::INTERNAL, e.what()};
  } catch (const std::exception& e) {
    return {grpc::StatusCode::INTERNAL, e.what()};
  }
}

// The client's deadline on the scheduler's clock (none: never).
Clock::time_point steady_deadline(const grpc::ServerContext& ctx) {
  const auto deadline = ctx.deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) return Clock::time_point::max();
  const auto left = deadline - std::chrono::system_clock::now();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::max(left, decltype(left)::zero()));
}

// One unary call, from its arrival to its end. Three things hold it alive: the handler while it
// runs, the Finish operation and gRPC's notice that the call is done (which also says whether the
// client cancelled it); the last of them deletes it. The handler may answer at once or later
// (from a scheduler thread, when the model has run).
template <class Request, class Response>
class UnaryCall final : public Event {
 public:
  using Start = void (Service::*)(grpc::ServerContext*, Request*, grpc::ServerAsyncResponseWriter<Response>*, grpc::CompletionQueue*,
                                  grpc::ServerCompletionQueue*, void*);
  using Handler = void (*)(Shared&, UnaryCall&);

  // Waits for the next call of this kind on `cq`.
  static void arm(Shared& shared, grpc::ServerCompletionQueue* cq, Start start, Handler handler) {
    new UnaryCall(shared, cq, start, handler);
  }

  void on(bool ok) override {
    if (!ok) {  // the server is shutting down: this call never started, nothing else will come
      delete this;
      return;
    }
    arm(shared_, cq_, start_, handler_);
    ++shared_.in_flight;
    handler_(shared_, *this);
    release();
  }

  void finish(const grpc::Status& status) { writer_.Finish(response, status, &finished_); }
  // What to do if the client cancels the call (a queued job leaves the queue).
  void on_cancel(std::function<void()> f) {
    std::lock_guard<std::mutex> lock(mutex_);
    cancel_ = std::move(f);
  }

  grpc::ServerContext ctx;
  Request request;
  Response response;

 private:
  struct Sub final : Event {
    UnaryCall* call;
    bool notice;
    Sub(UnaryCall* c, bool n) : call(c), notice(n) {}
    void on(bool) override { call->sub(notice); }
  };

  UnaryCall(Shared& shared, grpc::ServerCompletionQueue* cq, Start start, Handler handler)
      : shared_(shared), cq_(cq), start_(start), handler_(handler), writer_(&ctx), finished_(this, false), done_(this, true) {
    ctx.AsyncNotifyWhenDone(&done_);
    (shared_.service.*start_)(&ctx, &request, &writer_, cq_, cq_, this);
  }

  void sub(bool notice) {
    if (notice && ctx.IsCancelled()) {
      std::function<void()> cancel;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        cancel = std::move(cancel_);
      }
      if (cancel) cancel();
    }
    release();
  }

  void release() {
    if (--holds_ > 0) return;
    --shared_.in_flight;
    delete this;
  }

  Shared& shared_;
  grpc::ServerCompletionQueue* cq_;
  Start start_;
  Handler handler_;
  grpc::ServerAsyncResponseWriter<Response> writer_;
  Sub finished_, done_;
  std::atomic<int> holds_{3};
  std::mutex mutex_;
  std::function<void()> cancel_;
};

using LiveCall = UnaryCall<inference::ServerLiveRequest, inference::ServerLiveResponse>;
using ReadyCall = UnaryCall<inference::ServerReadyRequest, inference::ServerReadyResponse>;
using ModelReadyCall = UnaryCall<inference::ModelReadyRequest, inference::ModelReadyResponse>;
using ServerMetadataCall = UnaryCall<inference::ServerMetadataRequest, inference::ServerMetadataResponse>;
using ModelMetadataCall = UnaryCall<inference::ModelMetadataRequest, inference::ModelMetadataResponse>;
using InferCall = UnaryCall<inference::ModelInferRequest, inference::ModelInferResponse>;

void answer_live(Shared&, LiveCall& call) {
  call.response.set_live(true);
  call.finish(grpc::Status::OK);
}

void answer_ready(Shared& s, ReadyCall& call) {
  call.response.set_ready(s.ready);
  call.finish(grpc::Status::OK);
}

void answer_model_ready(Shared& s, ModelReadyCall& call) {
  try {
    s.registry.find(call.request.name(), call.request.version());
    call.response.set_ready(s.ready);
    call.finish(grpc::Status::OK);
  } catch (...) {
    call.finish(status_of(std::current_exception()));
  }
}

void answer_server_metadata(Shared&, ServerMetadataCall& call) {
  call.response.set_name("effvit");
  call.response.set_version(EFFVIT_VERSION);
  call.response.add_extensions("classification");
  call.finish(grpc::Status::OK);
}

void answer_model_metadata(Shared& s, ModelMetadataCall& call) {
  try {
    const ServedModel& m = s.registry.find(call.request.name(), call.request.version());
    fill_grpc_model_metadata(*m.model, m.name, m.version, call.response);
    call.finish(grpc::Status::OK);
  } catch (...) {
    call.finish(status_of(std::current_exception()));
  }
}

// One infer request from its message to its answer: `answer(status)` runs exactly once, with
// `response` filled when the status is OK, possibly before this returns (a request run at once, or
// refused). Returns the job while it may still be queued (to cancel), else null.
std::shared_ptr<ModelScheduler::Job> start_infer(Shared& s, inference::ModelInferRequest&& message, Clock::time_point deadline,
                                                 inference::ModelInferResponse& response,
                                                 std::function<void(const grpc::Status&)> answer) {
  const auto start = Clock::now();
  ServedModel* m = nullptr;
  try {
    if (!s.ready) throw StatusError(503, "the server is shutting down");
    m = &s.registry.find(message.model_name(), message.model_version());
    auto owned = std::make_shared<inference::ModelInferRequest>(std::move(message));
    auto request = std::make_shared<InferRequest>(parse_grpc_infer_request(*m->model, std::move(owned), s.decode));
    return submit_infer(*m, *request, deadline, [&response, answer, m, request, start](ModelScheduler::Job& job) {
      ModelStats& stats = m->scheduler->stats();
      try {
        const std::vector<Tensor> outputs = job.done.get_future().get();
        render_grpc_infer_response(*m->model, m->name, m->version, *request, outputs, m->labels, response);
        count_success(stats, job, start);
      } catch (...) {
        count_failure(stats, std::current_exception());
        answer(status_of(std::current_exception()));
        return;
      }
      answer(grpc::Status::OK);
    });
  } catch (...) {
    if (m) count_failure(m->scheduler->stats(), std::current_exception());
    answer(status_of(std::current_exception()));
    return nullptr;
  }
}

void answer_infer(Shared& s, InferCall& call) {
  auto job = start_infer(s, std::move(call.request), steady_deadline(call.ctx), call.response,
                         [&call](const grpc::Status& status) { call.finish(status); });
  if (!job) return;
  call.on_cancel([weak = std::weak_ptr<ModelScheduler::Job>(job)] {
    if (auto j = weak.lock()) j->owner->cancel(j);
  });
}

// ModelStreamInfer: requests read one after another while earlier ones run (at most kWindow
// unanswered), answers written in the requests' order, each an infer response or, for a request
// that failed, its error message (the stream goes on). The client's half-close ends the stream once
// everything read is answered; its cancellation takes the queued jobs out of their queues. The
// object lives while any gRPC operation or job of it is pending.
class StreamCall final : public Event {
 public:
  static void arm(Shared& shared, grpc::ServerCompletionQueue* cq) { new StreamCall(shared, cq); }

  void on(bool ok) override {  // the stream arrived
    if (!ok) {
      delete this;
      return;
    }
    arm(shared_, cq_);
    ++shared_.in_flight;
    {
      std::lock_guard<std::mutex> streams(shared_.streams_mutex);
      shared_.streams.insert(this);
    }
    std::unique_lock<std::mutex> lock(mutex_);
    read();
    pump(lock);
    release(lock);
  }

  // The server stopped being ready: a stream with nothing unanswered ends now (the client sees
  // CANCELLED) instead of holding the drain until the exit timeout; one with answers pending ends
  // after writing them. Takes a hold while it runs, unless the stream is already ending.
  static void drain(Shared& shared) {
    std::vector<StreamCall*> open;
    {
      std::lock_guard<std::mutex> streams(shared.streams_mutex);
      for (StreamCall* call : shared.streams) {
        std::lock_guard<std::mutex> lock(call->mutex_);
        if (call->holds_ == 0) continue;
        ++call->holds_;
        open.push_back(call);
      }
    }
    for (StreamCall* call : open) {
      std::unique_lock<std::mutex> lock(call->mutex_);
      call->pump(lock);
      call->release(lock);
    }
  }

 private:
  static constexpr size_t kWindow = 16;
  struct Slot {
    inference::ModelStreamInferResponse response;
    std::weak_ptr<ModelScheduler::Job> job;
    bool ready = false;
    bool started = false;  // its job is recorded: it may be written (and leave the deque)
  };
  struct Sub final : Event {
    StreamCall* call;
    void (StreamCall::*what)(bool);
    Sub(StreamCall* c, void (StreamCall::*w)(bool)) : call(c), what(w) {}
    void on(bool ok) override { (call->*what)(ok); }
  };

  StreamCall(Shared& shared, grpc::ServerCompletionQueue* cq)
      : shared_(shared), cq_(cq), stream_(&ctx_), read_done_(this, &StreamCall::on_read), write_done_(this, &StreamCall::on_write),
        finish_done_(this, &StreamCall::on_finish), notice_(this, &StreamCall::on_notice) {
    ctx_.AsyncNotifyWhenDone(&notice_);
    shared_.service.RequestModelStreamInfer(&ctx_, &stream_, cq_, cq_, this);
  }

  // Each starts one pending operation (a hold on the object); all under mutex_.
  void read() {
    reading_ = true;
    ++holds_;
    stream_.Read(&incoming_, &read_done_);
  }

  void on_read(bool ok) {
    std::unique_lock<std::mutex> lock(mutex_);
    reading_ = false;
    if (!ok) {
      half_closed_ = true;
    } else {
      slots_.emplace_back();
      Slot& slot = slots_.back();
      ++holds_;  // the job's answer
      lock.unlock();
      auto job = start_infer(shared_, std::move(incoming_), Clock::time_point::max(), *slot.response.mutable_infer_response(),
                             [this, &slot](const grpc::Status& status) { answered(slot, status); });
      lock.lock();
      slot.job = job;
      slot.started = true;
      if (slots_.size() < kWindow && !cancelled_) read();
    }
    pump(lock);
    release(lock);
  }

  void answered(Slot& slot, const grpc::Status& status) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!status.ok()) {
      slot.response.clear_infer_response();
      slot.response.set_error_message(status.error_message());
    }
    slot.ready = true;
    pump(lock);
    release(lock);
  }

  // Writes the oldest answer when it is ready and no write is pending; ends the stream when all is
  // answered after the client's half-close (or its cancellation).
  void pump(std::unique_lock<std::mutex>&) {
    if (writing_ || finishing_) return;
    if (!slots_.empty() && slots_.front().ready && slots_.front().started && !cancelled_) {
      writing_ = true;
      ++holds_;
      stream_.Write(slots_.front().response, &write_done_);
      return;
    }
    const bool idle = slots_.empty() || cancelled_;
    if (idle && (half_closed_ || cancelled_) && !reading_ && pending_jobs() == 0) {
      finishing_ = true;
      ++holds_;
      stream_.Finish(grpc::Status::OK, &finish_done_);
      return;
    }
    // Draining: the read waiting for the client's next request is cancelled, which ends the stream.
    if (!shared_.ready && slots_.empty() && reading_ && !ending_) {
      ending_ = true;
      ctx_.TryCancel();
    }
  }

  size_t pending_jobs() const {
    size_t n = 0;
    for (const Slot& slot : slots_) n += !slot.ready || !slot.started;
    return n;
  }

  void on_write(bool ok) {
    std::unique_lock<std::mutex> lock(mutex_);
    writing_ = false;
    slots_.pop_front();
    if (!ok) cancelled_ = true;  // the client is gone
    if (!reading_ && !half_closed_ && !cancelled_ && slots_.size() < kWindow) read();
    pump(lock);
    release(lock);
  }

  void on_finish(bool) {
    std::unique_lock<std::mutex> lock(mutex_);
    release(lock);
  }

  void on_notice(bool) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (ctx_.IsCancelled()) {
      cancelled_ = true;
      std::vector<std::shared_ptr<ModelScheduler::Job>> queued;
      for (Slot& slot : slots_)
        if (auto job = slot.job.lock()) queued.push_back(job);
      lock.unlock();
      for (auto& job : queued) job->owner->cancel(job);
      lock.lock();
      pump(lock);
    }
    release(lock);
  }

  // Drops one hold; the last deletes the call (after the lock is let go).
  void release(std::unique_lock<std::mutex>& lock) {
    if (--holds_ > 0) return;
    lock.unlock();
    {
      std::lock_guard<std::mutex> streams(shared_.streams_mutex);
      shared_.streams.erase(this);
    }
    --shared_.in_flight;
    delete this;
  }

  Shared& shared_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  grpc::ServerAsyncReaderWriter<inference::ModelStreamInferResponse, inference::ModelInferRequest> stream_;
  inference::ModelInferRequest incoming_;
  Sub read_done_, write_done_, finish_done_, notice_;
  std::mutex mutex_;
  std::deque<Slot> slots_;  // read, in order; the front is the next to write
  int holds_ = 2;           // the arrival's handling and the done notice
  bool reading_ = false, writing_ = false, finishing_ = false, half_closed_ = false, cancelled_ = false, ending_ = false;
};

}  // namespace

struct GrpcServer::State {
  Shared shared;
  std::unique_ptr<grpc::Server> server;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  std::vector<std::thread> threads;
  int port = 0;
  bool stopped = false;

  State(const ModelRegistry& registry, const std::atomic<bool>& ready, const ImageRules& images)
      : shared{registry, ready, [images](const Model& model, const std::vector<std::string>& encoded) {
                 return decode_images(model, encoded, images);
               }} {}
};

GrpcServer::GrpcServer(const ModelRegistry& registry, const std::atomic<bool>& ready, const GrpcOptions& options)
    : state_(std::make_unique<State>(registry, ready, options.images)) {
  // Before gRPC core tries: it would log its own line on stderr and say only that it failed.
  check_can_listen(options.host, options.port, "gRPC", "--grpc-port");
  grpc::ServerBuilder builder;
  const std::string address = (options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host) + ":" +
                              std::to_string(options.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &state_->port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(options.max_message_bytes, INT32_MAX)));
  builder.SetMaxSendMessageSize(-1);
  // A second server on the same port must fail, not share the port's clients with this one.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // An input tensor is hundreds of KB (M5's 600 KB): with HTTP/2's 64 KB initial window the client
  // sends it in pieces, each waiting for the server's window update.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);
  builder.AddChannelArgument(GRPC_ARG_TCP_MIN_READ_CHUNK_SIZE, 256 << 10);
  builder.AddChannelArgument(GRPC_ARG_TCP_READ_CHUNK_SIZE, 1 << 20);
  builder.RegisterService(&state_->shared.service);
  for (int i = 0; i < std::max(1, options.threads); ++i) state_->queues.push_back(builder.AddCompletionQueue());
  state_->server = builder.BuildAndStart();
  if (!state_->server || state_->port == 0) throw cannot_listen(options.host, options.port, "gRPC", "--grpc-port");
  for (auto& q : state_->queues) {
    grpc::ServerCompletionQueue* cq = q.get();
    Shared& s = state_->shared;
    LiveCall::arm(s, cq, &Service::RequestServerLive, answer_live);
    ReadyCall::arm(s, cq, &Service::RequestServerReady, answer_ready);
    ModelReadyCall::arm(s, cq, &Service::RequestModelReady, answer_model_ready);
    ServerMetadataCall::arm(s, cq, &Service::RequestServerMetadata, answer_server_metadata);
    ModelMetadataCall::arm(s, cq, &Service::RequestModelMetadata, answer_model_metadata);
    InferCall::arm(s, cq, &Service::RequestModelInfer, answer_infer);
    StreamCall::arm(s, cq);
    state_->threads.emplace_back([cq] {
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) static_cast<Event*>(tag)->on(ok);
    });
  }
}

GrpcServer::~GrpcServer() { shutdown(Clock::now()); }

int GrpcServer::port() const { return state_->port; }

int GrpcServer::in_flight() const { return state_->shared.in_flight.load(); }

void GrpcServer::drain() { StreamCall::drain(state_->shared); }

void GrpcServer::shutdown(Clock::time_point deadline) {
  if (state_->stopped) return;
  state_->stopped = true;
  const auto left = std::max(Clock::duration::zero(), deadline - Clock::now());
  state_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
  for (auto& q : state_->queues) q->Shutdown();
  for (auto& t : state_->threads) t.join();
}

}  // namespace effvit::serve
