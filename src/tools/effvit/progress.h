// A progress bar on stderr for long verbs (eval, quantize): redrawn in place on a terminal; on a
// pipe or log file, one line per 10%.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

namespace effvit::cli {

class ProgressBar {
 public:
  using Clock = std::chrono::steady_clock;
  ProgressBar(std::string what, size_t total)
      : what_(std::move(what)), total_(total), tty_(isatty(STDERR_FILENO)), start_(Clock::now()) {}

  // `detail` follows the count, e.g. "top-1 93.40%".
  void update(size_t done, const std::string& detail = "") {
    const int tenth = static_cast<int>(10 * done / std::max<size_t>(total_, 1));
    if (!tty_ && tenth == last_tenth_ && done != total_) return;
    const auto now = Clock::now();
    if (tty_ && done != total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    last_tenth_ = tenth;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const int width = 30, filled = static_cast<int>(width * done / std::max<size_t>(total_, 1));
    std::fprintf(stderr, "%s%s [%s%s] %zu/%zu  %s%s%.0f/s%s", tty_ ? "\r" : "", what_.c_str(),
                 std::string(static_cast<size_t>(filled), '#').c_str(), std::string(static_cast<size_t>(width - filled), '.').c_str(),
                 done, total_, detail.c_str(), detail.empty() ? "" : "  ", secs > 0.05 ? static_cast<double>(done) / secs : 0.0,
                 tty_ ? "" : "\n");
    if (tty_ && done == total_) std::fprintf(stderr, "\n");
  }

 private:
  std::string what_;
  size_t total_;
  bool tty_;
  int last_tenth_ = -1;
  Clock::time_point start_, last_draw_{};
};

}  // namespace effvit::cli
