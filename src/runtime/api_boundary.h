// Every public entry point (Model::load, Session::run, ...) ends in effvit::Error, whatever went
// wrong below it: error.h promises that Error is the only type a caller has to catch.
#pragma once

#include <string>

#include "effvit/error.h"

namespace effvit {

// Call from inside a catch block: rethrows the exception in flight as an Error. An Error without a
// kind gets `fallback`; running out of memory (std::bad_alloc, oneDNN's out_of_memory) is
// out_of_memory; anything else (oneDNN, the standard library) is internal. `where` (a model path)
// prefixes messages that do not already name it.
[[noreturn]] void rethrow_as_error(ErrorKind fallback, const std::string& where);

// Runs `body` under that translation.
template <typename F>
decltype(auto) at_api_boundary(ErrorKind fallback, const std::string& where, F&& body) {
  try {
    return body();
  } catch (...) {
    rethrow_as_error(fallback, where);
  }
}

}  // namespace effvit
