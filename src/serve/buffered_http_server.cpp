#include "serve/buffered_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace effvit::serve {
namespace {

using Clock = std::chrono::steady_clock;

// What the request this thread is serving came to, for its handlers: cut by the request deadline,
// or answered with `Connection: close` by a handler.
thread_local bool current_request_timed_out = false;
thread_local bool close_requested = false;

// Waits until the socket can be read (or written); false on timeout or error.
bool wait_for(int sock, short events, int timeout_ms) {
  pollfd p{sock, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    return n > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  }
}

int milliseconds(time_t sec, time_t usec) { return static_cast<int>(sec * 1000 + usec / 1000); }

bool address_of(int sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t length = sizeof(addr);
  if ((peer ? ::getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &length)
            : ::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &length)) != 0)
    return false;
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
    port = ntohs(a->sin6_port);
  } else {
    return false;
  }
  ip = text;
  return true;
}

class BufferedSocketStream final : public httplib::Stream {
 public:
  BufferedSocketStream(int sock, int read_timeout_ms, int write_timeout_ms)
      : sock_(sock), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

  bool buffered() const { return begin_ < end_; }
  // Reads after the deadline fail (and say so in current_request_timed_out): the library then
  // answers 400.
  void start_request(Clock::time_point deadline) {
    deadline_ = deadline;
    broken_ = false;
    current_request_timed_out = false;
  }
  // A read of this request failed (deadline, read timeout, the client gone): where the request ends
  // in the byte stream is unknown, so the connection cannot carry another one.
  bool broken() const { return broken_; }
  bool is_readable() const override { return buffered() || wait_for(sock_, POLLIN, read_wait_ms()); }
  bool is_writable() const override { return wait_for(sock_, POLLOUT, write_timeout_ms_); }

  ssize_t read(char* ptr, size_t size) override {
    if (!buffered()) {
      // Bytes that keep trickling in after the deadline do not extend it.
      if (Clock::now() >= deadline_ || !wait_for(sock_, POLLIN, read_wait_ms())) {
        current_request_timed_out = Clock::now() >= deadline_;
        broken_ = true;
        return -1;
      }
      ssize_t n;
      do n = ::recv(sock_, buffer_.get(), kBufferBytes, 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) {
        broken_ = true;
        return n;
      }
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_.get() + begin_, n);
    begin_ += n;
    consumed_ += n;
    return static_cast<ssize_t>(n);
  }
  // Bytes handed to the library so far on this connection.
  uint64_t consumed() const { return consumed_; }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(sock_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(sock_, false, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  // The per-read timeout, or less when the deadline comes first (rounded up, so a wait that ends
  // for the deadline ends at or after it).
  int read_wait_ms() const {
    if (deadline_ == Clock::time_point::max()) return read_timeout_ms_;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
    return static_cast<int>(std::clamp<int64_t>(left, 0, read_timeout_ms_));
  }

  static constexpr size_t kBufferBytes = size_t{64} << 10;
  int sock_;
  int read_timeout_ms_, write_timeout_ms_;
  std::unique_ptr<char[]> buffer_{new char[kBufferBytes]};
  size_t begin_ = 0, end_ = 0;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool broken_ = false;
  uint64_t consumed_ = 0;
};

// Closes a connection whose client may still be sending (a request cut short): shutting down only
// our side and reading what is left for a moment lets the answer reach the client. Closing with
// unread bytes would reset the connection and could destroy the answer on its way.
void lingering_close(int sock) {
  ::shutdown(sock, SHUT_WR);
  char sink[4096];
  const auto until = Clock::now() + std::chrono::milliseconds(200);
  while (Clock::now() < until && wait_for(sock, POLLIN, 50))
    if (::recv(sock, sink, sizeof(sink), 0) <= 0) break;
  ::close(sock);
}

}  // namespace

bool BufferedHttpServer::request_timed_out() { return current_request_timed_out; }
void BufferedHttpServer::close_after_answer(httplib::Response& res) {
  res.set_header("Connection", "close");
  close_requested = true;
}

bool BufferedHttpServer::process_and_close_socket(socket_t sock) {
  BufferedSocketStream stream(sock, milliseconds(read_timeout_sec_, read_timeout_usec_), milliseconds(write_timeout_sec_, write_timeout_usec_));
  // The next request of a keep-alive connection, waited for in short slices: a stopping or
  // draining server lets go of idle connections at once. A connection's first request is always
  // waited for: its client connected to be answered. (A saturated server does not close idle
  // connections: a request crossing the close would be lost. It ends busy ones after their
  // answer instead, below.)
  bool first = true;
  auto next_request = [&] {
    bool arrived = stream.buffered() || wait_for(sock, POLLIN, 0);
    const auto give_up = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
    while (!arrived && svr_sock_ != INVALID_SOCKET && (first || !draining_) && Clock::now() < give_up)
      arrived = wait_for(sock, POLLIN, 50);
    first = false;
    if (arrived) stream.start_request(request_timeout_.count() > 0 ? Clock::now() + request_timeout_ : Clock::time_point::max());
    return arrived;
  };
  bool ok = true, unread = false;
  for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET && next_request(); --left) {
    bool connection_closed = false;
    close_requested = false;
    // The library only writes `Connection: close` when asked to; the connection must then really
    // end after this answer, with no later request read (a client resends those elsewhere).
    const bool closing = left == 1 || draining_ || (saturated_ && saturated_());
    // Where this request's body ends in the byte stream, known once its head is parsed. The
    // library answers some requests without reading their body (a bad Range, a GET with a body,
    // a body over the size limit, an early 400): those bytes must not be read as requests.
    bool head_parsed = false, chunked = false;
    uint64_t body_end = 0;
    ok = process_request(stream, closing, connection_closed, [&](httplib::Request& req) {
      head_parsed = true;
      chunked = req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
      const std::string length = req.get_header_value("Content-Length");
      body_end = stream.consumed() + (length.empty() ? 0 : std::strtoull(length.c_str(), nullptr, 10));
    });
    if (stream.broken()) ok = false;
    // A chunked body's end is not known here: such a connection carries one request.
    unread = stream.broken() || !head_parsed || chunked || stream.consumed() < body_end;
    if (!ok || unread || connection_closed || closing || close_requested) break;
  }
  // Bytes the client sent, or is still sending, that will not be read (the rest of a cut request,
  // a pipelined one on a connection ended by Connection: close): closing over them would reset
  // the connection under the last answer.
  if (unread || stream.buffered() || wait_for(sock, POLLIN, 0)) {
    lingering_close(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  return ok;
}

}  // namespace effvit::serve
