// An error a request gets back as {"error": "..."} with an HTTP status: 400 bad input, 404 unknown
// model, 503 not ready or overloaded, 500 internal.
#pragma once

#include <stdexcept>
#include <string>

namespace effvit::serve {

class StatusError : public std::runtime_error {
 public:
  // `timed_out`: a 503 because the request's own timeout expired (counted as CANCELED, not as a
  // rejection by a full queue).
  StatusError(int status, const std::string& message, bool timed_out = false)
      : std::runtime_error(message), status_(status), timed_out_(timed_out) {}
  int status() const { return status_; }
  bool timed_out() const { return timed_out_; }

 private:
  int status_;
  bool timed_out_;
};

}  // namespace effvit::serve
