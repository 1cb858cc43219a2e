// Why `effvit serve` cannot listen on an address, found by binding a socket itself: cpp-httplib
// says only that it failed, and gRPC core adds a log line of its own on stderr. A user needs the
// address, the system's reason and the option that changes it, in one line.
#pragma once

#include <string>

#include "effvit/error.h"

namespace effvit::serve {

// Throws the error below when a socket bound as the servers bind theirs (SO_REUSEADDR, no
// SO_REUSEPORT) cannot listen on host:port. `what` is the server ("HTTP"), `port_option` the
// option that sets its port ("--http-port").
void check_can_listen(const std::string& host, int port, const std::string& what, const std::string& port_option);

// The error for a server library that could not listen: the address, the reason (strerror, found
// again by binding a socket) and the option to change.
Error cannot_listen(const std::string& host, int port, const std::string& what, const std::string& port_option);

}  // namespace effvit::serve
