#include "serve/grpc_server.h"

#include <grpcpp/grpcpp.h>

#include <mutex>
#include <thread>

#include "grpc_service.grpc.pb.h"
#include "serve/grpc_protocol.h"
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

struct Shared {
  const ModelRegistry& registry;
  const std::atomic<bool>& ready;
  Service service;
  std::atomic<int> in_flight{0};
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
  call.response.set_version("0.1.0");
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

void answer_infer(Shared& s, InferCall& call) {
  const auto start = Clock::now();
  ServedModel* m = nullptr;
  try {
    if (!s.ready) throw StatusError(503, "the server is shutting down");
    m = &s.registry.find(call.request.model_name(), call.request.model_version());
    auto message = std::make_shared<inference::ModelInferRequest>(std::move(call.request));
    auto request = std::make_shared<InferRequest>(parse_grpc_infer_request(*m->model, std::move(message), decode_images));
    auto job = submit_infer(*m, *request, steady_deadline(call.ctx), [&call, m, request, start](ModelScheduler::Job& job) {
      ModelStats& stats = m->scheduler->stats();
      try {
        const std::vector<Tensor> outputs = job.done.get_future().get();
        render_grpc_infer_response(*m->model, m->name, m->version, *request, outputs, m->labels, call.response);
        count_success(stats, job, start);
        call.finish(grpc::Status::OK);
      } catch (...) {
        count_failure(stats, std::current_exception());
        call.finish(status_of(std::current_exception()));
      }
    });
    call.on_cancel([m, weak = std::weak_ptr<ModelScheduler::Job>(job)] {
      if (auto j = weak.lock()) m->scheduler->cancel(j);
    });
  } catch (...) {
    if (m) count_failure(m->scheduler->stats(), std::current_exception());
    call.finish(status_of(std::current_exception()));
  }
}

}  // namespace

struct GrpcServer::State {
  Shared shared;
  std::unique_ptr<grpc::Server> server;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  std::vector<std::thread> threads;
  int port = 0;
  bool stopped = false;

  State(const ModelRegistry& registry, const std::atomic<bool>& ready) : shared{registry, ready, {}, {}} {}
};

GrpcServer::GrpcServer(const ModelRegistry& registry, const std::atomic<bool>& ready, const GrpcOptions& options)
    : state_(std::make_unique<State>(registry, ready)) {
  grpc::ServerBuilder builder;
  const std::string address = (options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host) + ":" +
                              std::to_string(options.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &state_->port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(options.max_message_bytes, INT32_MAX)));
  builder.SetMaxSendMessageSize(-1);
  // A second server on the same port must fail, not share the port's clients with this one.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&state_->shared.service);
  for (int i = 0; i < std::max(1, options.threads); ++i) state_->queues.push_back(builder.AddCompletionQueue());
  state_->server = builder.BuildAndStart();
  if (!state_->server || state_->port == 0)
    throw Error(ErrorKind::invalid_input, address + ": cannot listen for gRPC");
  for (auto& q : state_->queues) {
    grpc::ServerCompletionQueue* cq = q.get();
    Shared& s = state_->shared;
    LiveCall::arm(s, cq, &Service::RequestServerLive, answer_live);
    ReadyCall::arm(s, cq, &Service::RequestServerReady, answer_ready);
    ModelReadyCall::arm(s, cq, &Service::RequestModelReady, answer_model_ready);
    ServerMetadataCall::arm(s, cq, &Service::RequestServerMetadata, answer_server_metadata);
    ModelMetadataCall::arm(s, cq, &Service::RequestModelMetadata, answer_model_metadata);
    InferCall::arm(s, cq, &Service::RequestModelInfer, answer_infer);
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

void GrpcServer::shutdown(Clock::time_point deadline) {
  if (state_->stopped) return;
  state_->stopped = true;
  const auto left = std::max(Clock::duration::zero(), deadline - Clock::now());
  state_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
  for (auto& q : state_->queues) q->Shutdown();
  for (auto& t : state_->threads) t.join();
}

}  // namespace effvit::serve
