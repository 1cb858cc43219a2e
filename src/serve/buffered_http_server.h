// cpp-httplib's Server with its connections read through a 64 KB buffer. The packaged library
// reads a request body 4 KB at a time, each read a poll and a recv: 150 pairs for one M5 input
// (600 KB), about half a millisecond of every request (bench/serve_bench.sh, docs/serving.md).
// Here a connection's bytes come in up to 64 KB per recv and the library's small reads are
// served from memory; routing, parsing and responses are still the library's.
#pragma once

#include <httplib.h>

namespace effvit::serve {

class BufferedHttpServer : public httplib::Server {
 private:
  // The library's keep-alive loop (at most keep_alive_max_count requests, each waited for up to
  // keep_alive_timeout seconds), over the buffered stream.
  bool process_and_close_socket(socket_t sock) override;
};

}  // namespace effvit::serve
