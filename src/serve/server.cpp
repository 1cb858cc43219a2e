#include "effvit/version.h"
#include "serve/server.h"

#include <httplib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>
#include <sstream>

#include "serve/body_pool.h"
#include "serve/buffered_http_server.h"
#include "serve/grpc_server.h"
#include "serve/listen_check.h"
#include "serve/served_model.h"
#include "serve/status_error.h"
#include "serve/v2_protocol.h"
#include "tools/shared/labels.h"

namespace effvit::serve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Triton's repository layout: DIR/NAME/VERSION/model.onnx; the highest numeric version is served.
std::vector<std::pair<std::string, std::pair<std::string, std::string>>> scan_repository(const std::string& dir) {
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(ErrorKind::invalid_input, dir + ": --model-repository is not a folder");
  for (const auto& m : fs::directory_iterator(dir)) {
    // Hidden folders (.git) are not models; neither is a volume's lost+found, skipped below.
    if (!m.is_directory() || m.path().filename().string().front() == '.') continue;
    long long best = -1;
    for (const auto& v : fs::directory_iterator(m.path())) {
      const std::string name = v.path().filename().string();
      if (!v.is_directory() || name.empty() || name.size() > 18 || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
      if (fs::exists(v.path() / "model.onnx")) best = std::max(best, std::stoll(name));
    }
    // A model folder without a servable version is a mistake to name, not to skip: its clients
    // would get 404s from a server that started as if all was well.
    if (best < 0 && m.path().filename() != "lost+found") {
      // Name what is there: an .onnx file under another name or in the wrong place is the usual slip.
      std::string found_onnx;
      for (const auto& f : fs::recursive_directory_iterator(m.path(), ec))
        if (f.is_regular_file() && f.path().extension() == ".onnx" && found_onnx.empty()) found_onnx = f.path().string();
      throw Error(ErrorKind::invalid_input, m.path().string() + ": a model folder with no VERSION/model.onnx (expected " +
                                                (m.path() / "1" / "model.onnx").string() + ")" +
                                                (found_onnx.empty() ? "" : "; it holds " + found_onnx + ": rename or move it"));
    }
    if (best >= 0)
      found.push_back({m.path().filename().string(), {std::to_string(best), (m.path() / std::to_string(best) / "model.onnx").string()}});
  }
  if (found.empty()) throw Error(ErrorKind::invalid_input, dir + ": no NAME/VERSION/model.onnx in the model repository");
  std::sort(found.begin(), found.end());
  return found;
}

// An infer request's body, read whole into a pooled body whose binary part (from byte
// `binary_at`) lands aligned. Null when the read failed: the answer's status is set (413 over
// `max_bytes`, the library's 400) or the request timed out, and the error handler words it.
std::shared_ptr<Body> read_body(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& read, BodyPool& pool,
                                size_t binary_at, size_t max_bytes) {
  const std::string length = req.get_header_value("Content-Length");
  // Neither a length nor chunks: by HTTP/1.1 the body is empty (waiting for the client to close
  // would hold the request until the read timeout).
  if (length.empty() && !req.has_header("Transfer-Encoding")) return pool.take(0, 0);
  // The declared length is only a reservation hint, bounded by the limit the library enforces while
  // reading: a client cannot make the server reserve more than a body it may send.
  const size_t expected = std::min<size_t>(length.empty() ? 0 : std::strtoull(length.c_str(), nullptr, 10), max_bytes);
  auto body = pool.take(expected, binary_at);
  bool too_big = false;  // a chunked body past the limit (the library then says 400, whatever we set)
  const bool ok = read([&](const char* data, size_t bytes) {
    if (body->size() + bytes > max_bytes) {
      too_big = true;
      return false;
    }
    body->append(data, bytes);
    return true;
  });
  if (ok) return body;
  res.status = too_big ? 413 : std::max(res.status, 400);
  return nullptr;
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(json{{"error", message}}.dump(), "application/json");
}

std::string prometheus(const std::vector<std::unique_ptr<ServedModel>>& models) {
  std::ostringstream out;
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    for (const auto& m : models) value(*m);
  };
  auto escape = [](const std::string& v) {
    std::string e;
    for (char c : v) e += c == '\\' ? "\\\\" : c == '"' ? "\\\"" : c == '\n' ? "\\n" : std::string(1, c);
    return e;
  };
  auto line = [&](const char* name, const ServedModel& m, auto v, const std::string& extra = "") {
    out << name << "{model=\"" << escape(m.name) << "\",version=\"" << escape(m.version) << "\"" << extra << "} " << v << "\n";
  };
  family("nv_inference_request_success", "counter", "Number of successful inference requests", [&](const ServedModel& m) {
    line("nv_inference_request_success", m, m.scheduler->stats().success.load());
  });
  family("nv_inference_request_failure", "counter", "Number of failed inference requests", [&](const ServedModel& m) {
    const ModelStats& s = m.scheduler->stats();
    line("nv_inference_request_failure", m, s.failure_rejected.load(), ",reason=\"REJECTED\"");
    line("nv_inference_request_failure", m, s.failure_timeout.load(), ",reason=\"CANCELED\"");
    line("nv_inference_request_failure", m, s.failure_backend.load(), ",reason=\"BACKEND\"");
    line("nv_inference_request_failure", m, s.failure_input.load(), ",reason=\"OTHER\"");
  });
  // The families of one value per model, each a ModelStats counter.
  struct Single {
    const char *name, *type, *help;
    const std::atomic<uint64_t> ModelStats::*counter;
  };
  const Single singles[] = {
      {"nv_inference_count", "counter", "Number of inferences performed (batch rows)", &ModelStats::inference_count},
      {"nv_inference_exec_count", "counter", "Number of model executions (batches)", &ModelStats::exec_count},
      {"nv_inference_request_duration_us", "counter", "Cumulative request duration in microseconds", &ModelStats::request_us},
      {"nv_inference_queue_duration_us", "counter", "Cumulative time requests waited in the queue, in microseconds", &ModelStats::queue_us},
      {"nv_inference_compute_infer_duration_us", "counter", "Cumulative model execution time, in microseconds", &ModelStats::compute_us},
  };
  for (const Single& f : singles)
    family(f.name, f.type, f.help, [&](const ServedModel& m) { line(f.name, m, (m.scheduler->stats().*f.counter).load()); });
  family("nv_inference_pending_request_count", "gauge", "Requests waiting in the queue", [&](const ServedModel& m) {
    line("nv_inference_pending_request_count", m, m.scheduler->stats().pending.load());
  });
  return out.str();
}

// The library's thread pool, counting the connections it holds (queued or being served): the
// shutdown waits for them, not only for requests that reached a handler.
class CountingPool : public httplib::TaskQueue {
 public:
  CountingPool(size_t threads, std::atomic<int>& open) : pool_(threads), open_(open) {}
  void enqueue(std::function<void()> fn) override {
    ++open_;
    pool_.enqueue([this, fn = std::move(fn)] {
      fn();
      --open_;
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
  std::atomic<int>& open_;
};

// Connections the kernel has accepted that the server has not taken yet (a listening socket's
// TCP_INFO reports its accept queue in tcpi_unacked).
int pending_accepts(int listening) {
  tcp_info info{};
  socklen_t length = sizeof(info);
  if (listening < 0 || ::getsockopt(listening, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return 0;
  return static_cast<int>(info.tcpi_unacked);
}

// Binds and listens; returns the port, and the listening socket in `listening`.
int listen_on(httplib::Server& server, const std::string& host, int port, const char* what, const char* port_option, int& listening) {
  check_can_listen(host, port, what, port_option);
  // The packaged library listens with a backlog of 5: a burst of clients connecting at once then
  // loses SYNs and waits a second for TCP to retry. Listening again on the same socket raises it.
  listening = -1;
  server.set_socket_options([&listening](socket_t sock) {
    // Not the library's default options: with SO_REUSEPORT a second server on the same port
    // starts without an error and the kernel splits the clients between the two.
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listening = sock;
  });
  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) throw cannot_listen(host, port, what, port_option);
  if (listening >= 0) ::listen(listening, SOMAXCONN);
  return bound;
}

}  // namespace

void serve(const ServeOptions& options) {
#ifdef __GLIBC__
  // Request bodies of a few hundred KB come and go on many HTTP threads. glibc gives threads heaps
  // of their own (up to 8 per core) and each keeps the last bodies it freed: the server's RSS grew
  // by a body per thread (+40 MB after 3000 requests). A few shared heaps bound that. Blocks over
  // 2 MB (batches) are mapped and given back at once: in the heap, batches of varying sizes kept
  // it growing (+20 MB a round of overload); below that, mapping every body (the library grows it
  // by doubling, so M5's 600 KB input ends in a 1 MB block) costs its page faults, ~1 ms a request.
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 2 << 20);
  // And the heaps keep up to 4 MB of freed top instead of returning (and re-faulting) each
  // request's body pages.
  mallopt(M_TRIM_THRESHOLD, 4 << 20);
#endif
  // Signals are taken by sigwait below, not by whichever thread they land on.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> wanted;
  for (const auto& [name, path] : options.models) wanted.push_back({name, {"1", path}});
  if (!options.model_repository.empty())
    for (auto& entry : scan_repository(options.model_repository)) wanted.push_back(entry);
  if (wanted.empty()) throw Error(ErrorKind::invalid_input, "serve: name a model (--model NAME=PATH or --model-repository DIR)");
  for (const auto& entry : options.model_precision) {
    // Not a structured binding: clang 14 (the fuzz build's) cannot capture one in a lambda.
    const std::string& name = entry.first;
    if (std::none_of(wanted.begin(), wanted.end(), [&](const auto& w) { return w.first == name; }))
      throw Error(ErrorKind::invalid_input, "serve: --model-precision names '" + name + "', which is not among the models served");
  }
  ModelRegistry registry;
  std::vector<std::unique_ptr<ServedModel>>& models = registry.models;
  for (const auto& [name, version_path] : wanted) {
    for (const auto& m : models)
      if (m->name == name) throw Error(ErrorKind::invalid_input, "serve: two models named '" + name + "'");
    auto s = std::make_unique<ServedModel>();
    s->name = name;
    s->version = version_path.first;
    s->path = version_path.second;
    s->model = Model::load(s->path);
    try {
      s->labels = cli::class_names(*s->model, "");
    } catch (const Error&) {
      // Not a classifier: the classification extension answers with indices only.
    }
    SchedulerOptions scheduling = options.scheduler;
    for (const auto& [model_name, precision] : options.model_precision)
      if (model_name == name) scheduling.precision = precision;
    try {
      s->scheduler = std::make_unique<ModelScheduler>(s->model, scheduling);
    } catch (const Error& e) {
      const std::string message = "serve: model '" + name + "': " + e.what();
      throw e.has_kind() ? Error(e.kind(), message) : Error(message);
    }
    models.push_back(std::move(s));
  }
  auto find = [&](const std::string& name, const std::string& version) -> ServedModel& { return registry.find(name, version); };

  std::atomic<bool> ready{true};
  std::atomic<int> in_flight{0}, connections{0};
  BufferedHttpServer http;
  // Enough HTTP threads that a request is always there to be refused: the library's own task queue
  // is unbounded, so the limit is kept by the schedulers' queues. A keep-alive connection holds its
  // thread between requests, so there are many more threads than requests that can be queued
  // (an idle thread costs its stack's address space, not memory). A client trickling its body
  // still holds one for as long as it trickles: put a proxy in front for the open internet.
  const size_t workers = std::max<size_t>(256, options.scheduler.max_queue_size * models.size() +
                                                   static_cast<size_t>(options.scheduler.instances * options.scheduler.max_batch_size) * models.size() + 16);
  http.new_task_queue = [workers, &connections] { return new CountingPool(workers, connections); };
  http.set_payload_max_length(options.http_max_input_size);
  http.set_request_timeout(std::chrono::seconds(options.http_request_timeout_s));
  http.set_keep_alive_timeout(2);
  // The library's default ends a connection after 5 requests: a client then pays a new TCP
  // handshake (and a thread hand-off) every fifth request.
  http.set_keep_alive_max_count(100000);
  // Headers and body go out in separate writes: with Nagle on, the client's delayed ACK adds ~40 ms.
  http.set_tcp_nodelay(true);
  http.set_saturated([&connections, workers] { return connections.load() > static_cast<int>(workers); });

  // What the library answers itself (an unknown path, a body over --http-max-input-size) gets the
  // protocol's error body too.
  http.set_error_handler([&options](const httplib::Request& req, httplib::Response& res) {
    if (BufferedHttpServer::request_timed_out()) {
      BufferedHttpServer::close_after_answer(res);
      res.set_content(json{{"error", "the request did not arrive within --http-request-timeout-s (" +
                                         std::to_string(options.http_request_timeout_s) + " s)"}}.dump(),
                      "application/json");
      return;
    }
    if (!res.body.empty()) return;
    // The library caps form-encoded bodies at 8 KB, but only on the paths whose body it reads
    // itself: not an infer endpoint (those read their own), so such a 413 is a wrong path.
    const std::string length = req.get_header_value("Content-Length");
    const bool over_limit = res.status == 413 && (length.empty() || std::strtoull(length.c_str(), nullptr, 10) > options.http_max_input_size);
    if (res.status == 413 && !over_limit) res.status = 404;
    const std::string why = over_limit ? "the request body is larger than --http-max-input-size (" +
                                             std::to_string(options.http_max_input_size) + " bytes)"
                            : res.status == 404 ? "no such endpoint: " + req.method + " " + req.path
                                                : "HTTP " + std::to_string(res.status);
    res.set_content(json{{"error", why}}.dump(), "application/json");
  });
  auto guarded = [&](auto body) {
    return [&, body](const httplib::Request& req, httplib::Response& res) {
      // While draining, every answer ends its connection, so keep-alive clients let go.
      if (!ready) BufferedHttpServer::close_after_answer(res);
      try {
        body(req, res);
      } catch (const StatusError& e) {
        reply_error(res, e.status(), e.what());
      } catch (const Error& e) {
        reply_error(res, e.has_kind() && e.kind() == ErrorKind::invalid_input ? 400 : 500, e.what());
      } catch (const std::exception& e) {
        reply_error(res, 500, e.what());
      }
    };
  };
  http.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
  http.Get("/v2/health/ready", [&](const httplib::Request&, httplib::Response& res) {
    res.status = ready ? 200 : 503;
    if (!ready) BufferedHttpServer::close_after_answer(res);
  });
  http.Get("/v2", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"name", "effvit"}, {"version", EFFVIT_VERSION}, {"extensions", {"binary_tensor_data", "classification"}}}.dump(),
                    "application/json");
  });
  const std::string model_path = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
  http.Get(model_path, guarded([&](const httplib::Request& req, httplib::Response& res) {
             ServedModel& m = find(req.matches[1], req.matches[2]);
             res.set_content(model_metadata_json(*m.model, m.name, m.version), "application/json");
           }));
  http.Get(model_path + "/ready", guarded([&](const httplib::Request& req, httplib::Response& res) {
             find(req.matches[1], req.matches[2]);
             res.status = ready ? 200 : 503;
           }));
  const ImageDecoder decode = [&options](const Model& model, const std::vector<std::string>& encoded) {
    return decode_images(model, encoded, options.images);
  };
  // Infer bodies are read by the handler itself, into pooled memory (serve/body_pool.h). Enough
  // bodies are kept for every request that can be running or queued at once.
  BodyPool bodies(static_cast<size_t>(options.scheduler.instances * options.scheduler.max_batch_size) * models.size() + 16, size_t{4} << 20);
  http.Post(model_path + "/infer", [&](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& read) {
    std::optional<size_t> json_length;
    std::shared_ptr<Body> body;
    guarded([&](const httplib::Request&, httplib::Response&) {
      // The body is read before the request is judged: an error answered over an unread body
      // would have to end the connection (its bytes cannot be read as the next request).
      std::exception_ptr bad_header;
      try {
        if (req.has_header("Inference-Header-Content-Length"))
          json_length = parse_json_length_header(req.get_header_value("Inference-Header-Content-Length"));
      } catch (const StatusError&) {
        bad_header = std::current_exception();
      }
      if (req.is_multipart_form_data()) {
        // The library would parse its parts: it is refused unread, and the connection ends.
        BufferedHttpServer::close_after_answer(res);
        throw StatusError(400, "a multipart/form-data body is not an infer request: send application/json, or "
                               "application/octet-stream with the binary tensor extension");
      }
      body = read_body(req, res, read, bodies, json_length.value_or(0), options.http_max_input_size);
      if (body && bad_header) {
        body.reset();
        std::rethrow_exception(bad_header);
      }
    })(req, res);
    if (!body) return;  // answered: a 400/413 or a timeout (the error handler words the library's own)
    guarded([&](const httplib::Request&, httplib::Response&) {
              const auto start = Clock::now();
              ++in_flight;
              struct Leave {
                std::atomic<int>& n;
                ~Leave() { --n; }
              } leave{in_flight};
              ServedModel& m = find(req.matches[1], req.matches[2]);
              ModelStats& stats = m.scheduler->stats();
              try {
                if (!ready) throw StatusError(503, "the server is shutting down");
                // Without Inference-Header-Content-Length, a body that cannot be JSON (its first
                // byte is not '{' or space) and is not labelled JSON is the raw input, as a client
                // posting a tensor file with curl sends it.
                const std::string_view bytes = body->view();
                const size_t first = bytes.find_first_not_of(" \t\r\n");
                if (!json_length && first != std::string_view::npos && bytes[first] != '{' &&
                    req.get_header_value("Content-Type").rfind("application/json", 0) != 0)
                  json_length = 0;
                InferRequest request = parse_infer_request(*m.model, bytes, body, json_length, decode);
                body.reset();  // the request holds it while its inputs view it
                const auto deadline = request.timeout_us > 0 ? start + std::chrono::microseconds(static_cast<int64_t>(request.timeout_us))
                                                             : Clock::time_point::max();
                auto job = submit_infer(m, request, deadline);
                auto done = job->done.get_future();
                if (deadline != Clock::time_point::max() && done.wait_until(deadline) == std::future_status::timeout) {
                  job->abandoned = true;
                  throw StatusError(503, "the request timed out after " + std::to_string(static_cast<int64_t>(request.timeout_us)) + " us", true);
                }
                const std::vector<Tensor> outputs = done.get();
                const InferResponse response = render_infer_response(*m.model, m.name, m.version, request, outputs, m.labels);
                if (response.json_length) {
                  res.set_header("Inference-Header-Content-Length", std::to_string(*response.json_length));
                  res.set_content(response.body, "application/octet-stream");
                } else {
                  res.set_content(response.body, "application/json");
                }
                count_success(stats, *job, start);
              } catch (...) {
                count_failure(stats, std::current_exception());
                throw;
              }
            })(req, res);
  });

  httplib::Server metrics;
  metrics.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(prometheus(models), "text/plain; version=0.0.4");
  });

  int http_listening = -1, metrics_listening = -1;
  const int http_port = listen_on(http, options.host, options.http_port, "HTTP", "--http-port", http_listening);
  const int metrics_port = listen_on(metrics, options.host, options.metrics_port, "metrics", "--metrics-port", metrics_listening);
  GrpcOptions grpc_options;
  grpc_options.host = options.host;
  grpc_options.port = options.grpc_port;
  grpc_options.max_message_bytes = options.http_max_input_size;
  grpc_options.images = options.images;
  // A request may run on the completion-queue thread that received it (no hand-off to an instance
  // thread); as many more threads keep reading and writing the sockets meanwhile.
  grpc_options.threads = 2 * std::max(1, options.scheduler.instances) * static_cast<int>(registry.models.size());
  GrpcServer grpc(registry, ready, grpc_options);
  std::thread http_thread([&] { http.listen_after_bind(); });
  std::thread metrics_thread([&] { metrics.listen_after_bind(); });
  for (const auto& m : models)
    std::printf("effvit serve: model '%s' version %s from %s (%s)\n", m->name.c_str(), m->version.c_str(), m->path.c_str(),
                m->scheduler->precision().c_str());
  // How images sent as BYTES are read: a client comparing with `effvit classify` needs to know.
  std::printf("effvit serve: images sent as BYTES: %s resize, EXIF orientation %s, at most %lld pixels\n",
              options.images.letterbox ? "letterbox" : "each model's own (timm's by default)", options.images.exif_orientation ? "applied" : "ignored",
              static_cast<long long>(options.images.max_pixels));
  std::printf("effvit serve: HTTP on %s:%d, metrics on %s:%d/metrics\n", options.host.c_str(), http_port, options.host.c_str(), metrics_port);
  std::printf("effvit serve: gRPC on %s:%d\n", options.host.c_str(), grpc.port());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  ready = false;
  http.drain();
  grpc.drain();
  // Said once it is true: a supervisor (or a test) reading this line may rely on it.
  std::printf("effvit serve: %s: not ready; finishing requests in flight\n", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(stdout);
  // Every connection already accepted, or waiting in the kernel's accept queue when the signal
  // came, is answered (503 now, with Connection: close) and every request already queued is run,
  // until the exit timeout. Once that queue has been seen empty, later arrivals are not waited for.
  const auto give_up = Clock::now() + std::chrono::seconds(options.exit_timeout_s);
  bool backlog_taken = false;
  while (Clock::now() < give_up) {
    backlog_taken = backlog_taken || pending_accepts(http_listening) == 0;
    if (backlog_taken && in_flight == 0 && connections == 0 && grpc.in_flight() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (in_flight > 0 || connections > 0 || grpc.in_flight() > 0) {
    // Out of time: requests still running would hold the exit up indefinitely.
    std::printf("effvit serve: exit timeout: %d request(s), %d connection(s) and %d gRPC call(s) dropped\n", in_flight.load(),
                connections.load(), grpc.in_flight());
    std::fflush(stdout);
    std::_Exit(0);
  }
  // Nothing is in flight: calls arriving now are refused at once (not ready).
  grpc.shutdown(Clock::now() + std::chrono::seconds(1));
  http.stop();
  metrics.stop();
  http_thread.join();
  metrics_thread.join();
  for (auto& m : models) m->scheduler->stop();
  std::printf("effvit serve: stopped (0 request(s) still in flight)\n");
}

}  // namespace effvit::serve
