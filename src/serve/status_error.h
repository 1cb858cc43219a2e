// An error a request gets back as {"error": "..."} with an HTTP status: 400 bad input, 404 unknown
// model, 503 not ready or overloaded, 500 internal.
#pragma once

#include <stdexcept>
#include <string>

namespace effvit::serve {

class StatusError : public std::runtime_error {
 public:
  StatusError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

}  // namespace effvit::serve
