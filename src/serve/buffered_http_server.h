// cpp-httplib's Server with its connections read through a 64 KB buffer. The packaged library
// reads a request body 4 KB at a time, each read a poll and a recv: 150 pairs for one M5 input
// (600 KB), about half a millisecond of every request (bench/serve_bench.sh, docs/serving.md).
// Here a connection's bytes come in up to 64 KB per recv and the library's small reads are
// served from memory; routing, parsing and responses are still the library's.
//
// Each request must also arrive whole within a deadline from its first byte. The library only
// bounds the wait for each read, so a client sending a byte every few seconds held a thread
// for as long as it liked.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>

namespace effvit::serve {

class BufferedHttpServer : public httplib::Server {
 public:
  // How long a request's head and body may take to arrive (0: no limit but the per-read timeout).
  // A request cut by it is answered 400 and its connection closed: the rest of its bytes must
  // never be read as another request.
  void set_request_timeout(std::chrono::milliseconds timeout) { request_timeout_ = timeout; }
  // True while every HTTP thread is taken (connections wait in the queue): keep-alive then ends
  // each connection after its current request (`Connection: close`), so the waiting ones get a
  // thread.
  void set_saturated(std::function<bool()> saturated) { saturated_ = std::move(saturated); }
  // From now on each connection ends after the request it is reading (answered with
  // `Connection: close`), and idle ones end at once: the shutdown waits only for real work.
  void drain() { draining_ = true; }
  // Whether the request this thread is serving was cut by the request timeout (for its answer).
  static bool request_timed_out();
  // For a handler: the answer says `Connection: close`, and the connection ends after it,
  // whatever else is pipelined behind it.
  static void close_after_answer(httplib::Response& res);

 private:
  std::chrono::milliseconds request_timeout_{0};
  std::function<bool()> saturated_;
  std::atomic<bool> draining_{false};

  // The library's keep-alive loop (at most keep_alive_max_count requests, each waited for up to
  // keep_alive_timeout seconds), over the buffered stream.
  bool process_and_close_socket(socket_t sock) override;
};

}  // namespace effvit::serve
