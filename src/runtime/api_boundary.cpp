#include "runtime/api_boundary.h"

#include <dnnl.hpp>
#include <new>

namespace effvit {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_model: return "invalid_model";
    case ErrorKind::invalid_input: return "invalid_input";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::out_of_memory: return "out_of_memory";
    case ErrorKind::internal: return "internal";
  }
  return "internal";
}

namespace {
std::string named(const std::string& where, const std::string& message) {
  if (where.empty() || message.rfind(where, 0) == 0) return message;
  return where + ": " + message;
}
}  // namespace

void rethrow_as_error(ErrorKind fallback, const std::string& where) {
  try {
    throw;
  } catch (const Error& e) {
    if (e.has_kind()) throw;
    throw Error(fallback, named(where, e.what()));
  } catch (const std::bad_alloc&) {
    throw Error(ErrorKind::out_of_memory, named(where, "out of memory"));
  } catch (const dnnl::error& e) {
    if (e.status == dnnl_out_of_memory) throw Error(ErrorKind::out_of_memory, named(where, "out of memory (oneDNN)"));
    throw Error(ErrorKind::internal, named(where, std::string("internal error in oneDNN: ") + e.what()));
  } catch (const std::exception& e) {
    throw Error(ErrorKind::internal, named(where, std::string("internal error: ") + e.what()));
  } catch (...) {
    throw Error(ErrorKind::internal, named(where, "internal error (unknown exception)"));
  }
}

}  // namespace effvit
