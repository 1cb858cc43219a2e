// The one error type effvit throws across its public API. what() is a single line that names the
// file or object at fault and the problem, ready to print as is; kind() says what a caller can do
// about it (fix the model, fix the input, give up on this model, free memory, report a bug).
#pragma once

#include <stdexcept>
#include <string>

namespace effvit {

enum class ErrorKind {
  invalid_model,  // the model file or graph is malformed, inconsistent or hostile
  invalid_input,  // a tensor, image, label file, option or environment setting the caller gave
  unsupported,    // valid, but beyond what effvit implements (an op, a dtype, a CPU)
  out_of_memory,
  internal,       // a bug in effvit or a library it uses
};

const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  // An error whose kind the public entry point it crosses decides (a shape problem found while
  // loading is an invalid model; the same found while running is an invalid input).
  explicit Error(const std::string& message) : std::runtime_error(message) {}
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind), has_kind_(true) {}

  ErrorKind kind() const { return kind_; }
  // Whether the throw site chose the kind (else the entry point did, or will).
  bool has_kind() const { return has_kind_; }

 private:
  // An error no entry point classified came from a helper the caller used directly (a Tensor
  // constructor, say): its input is at fault.
  ErrorKind kind_ = ErrorKind::invalid_input;
  bool has_kind_ = false;
};

}  // namespace effvit
