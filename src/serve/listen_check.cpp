#include "serve/listen_check.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace effvit::serve {
namespace {

struct Problem {
  int error = 0;       // errno of the call that failed; 0 when listening works
  std::string reason;  // strerror, or the resolver's message
};

Problem try_listen(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return {EADDRNOTAVAIL, ::gai_strerror(rc)};
  Problem first;
  // As cpp-httplib binds: the first address of the host's that can be bound serves.
  for (const addrinfo* a = found; a; a = a->ai_next) {
    const int sock = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    const int yes = 1;
    const bool ok = sock >= 0 && ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes)) == 0 &&
                    ::bind(sock, a->ai_addr, a->ai_addrlen) == 0 && ::listen(sock, 1) == 0;
    const int error = errno;
    if (sock >= 0) ::close(sock);
    if (ok) {
      ::freeaddrinfo(found);
      return {};
    }
    if (first.error == 0) first = {error, std::strerror(error)};
  }
  ::freeaddrinfo(found);
  return first;
}

Error listen_error(const std::string& host, int port, const std::string& what, const std::string& port_option, const Problem& problem) {
  const std::string address = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  const std::string fix = problem.error == EADDRINUSE ? "another program holds the port: choose another with " + port_option + ", or 0 for any free port"
                          : problem.error == EACCES   ? "choose another port with " + port_option + " (ports below 1024 need privileges)"
                          : problem.error == 0        ? "choose another port with " + port_option + ", or another --host"
                                                      : "check --host";
  return Error(ErrorKind::invalid_input,
               address + ": cannot listen for " + what + (problem.reason.empty() ? "" : ": " + problem.reason) + " (" + fix + ")");
}

}  // namespace

void check_can_listen(const std::string& host, int port, const std::string& what, const std::string& port_option) {
  const Problem problem = try_listen(host, port);
  if (problem.error != 0) throw listen_error(host, port, what, port_option, problem);
}

Error cannot_listen(const std::string& host, int port, const std::string& what, const std::string& port_option) {
  return listen_error(host, port, what, port_option, try_listen(host, port));
}

}  // namespace effvit::serve
