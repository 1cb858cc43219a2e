#include "tools/effvit/commands.h"

namespace effvit::cli {

Handler add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Top-1/top-5 accuracy on labelled data (IDX files or class folders)");
  (void)cmd;
  return [] { return 1; };
}

}  // namespace effvit::cli
