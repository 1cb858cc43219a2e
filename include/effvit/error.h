// The one error type effvit throws across its public API. what() is a single line that names the
// file or object at fault and the problem, ready to print as is.
#pragma once

#include <stdexcept>
#include <string>

namespace effvit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace effvit
