// effvit: deploy EfficientViT-MSRA classifiers on CPUs. Every failure ends in one line on stderr
// and a non-zero exit status.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "effvit/error.h"
#include "effvit/hardware.h"
#include "effvit/version.h"
#include "quant/did_you_mean.h"
#include "tools/effvit/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"effvit: run, benchmark and evaluate EfficientViT-MSRA models on CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "effvit " EFFVIT_VERSION);
  // Accepted before or after the verb (fallthrough): every verb builds plans.
  app.fallthrough();
  bool strict = false;
  app.add_flag("--strict", strict, "Fail instead of warning when a conv, matmul or layout reorder would run a reference loop");
  std::map<CLI::App*, effvit::cli::Handler> handlers;
  auto add = [&](effvit::cli::Handler (*fn)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    effvit::cli::Handler h = fn(app);
    handlers[app.get_subcommands({}).at(before)] = std::move(h);
  };
  add(effvit::cli::add_info);
  add(effvit::cli::add_run);
  add(effvit::cli::add_classify);
  add(effvit::cli::add_bench);
  add(effvit::cli::add_eval);
  add(effvit::cli::add_quantize);
  add(effvit::cli::add_serve);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // The help that explains the mistake: the verb's own when one was given.
    std::string help = "effvit --help";
    bool verb_given = false;
    std::vector<std::string> verbs;
    for (CLI::App* sub : app.get_subcommands({})) {
      verbs.push_back(sub->get_name());
      if (sub->parsed()) {
        help = "effvit " + sub->get_name() + " --help";
        verb_given = true;
      }
    }
    // The first word is not a verb: say which word, and which verb it may have meant.
    if (!verb_given && argc > 1 && argv[1][0] != '-') {
      const std::string word = argv[1];
      const std::string guess = word == "version" || word == "help" ? " (did you mean 'effvit --" + word + "'?)"
                                                                      : effvit::quant::did_you_mean(word, verbs);
      std::fprintf(stderr, "effvit: unknown verb '%s'%s (see effvit --help)\n", word.c_str(), guess.c_str());
      return 1;
    }
    std::fprintf(stderr, "effvit: %s (see %s)\n", e.what(), help.c_str());
    return 1;
  }
  // Sessions read it when they are created (SessionOptions::strict).
  if (strict) setenv("EFFVIT_STRICT", "1", 1);
  try {
    // The CPU and EFFVIT_MAX_ISA first: a bad tier is the environment's mistake, not that of the
    // first file a verb happens to open.
    effvit::hardware_info();
    for (auto& [sub, handler] : handlers)
      if (sub->parsed()) return handler();
  } catch (const effvit::Error& e) {
    std::fprintf(stderr, "effvit: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "effvit: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "effvit: internal error: %s\n", e.what());
    return 2;
  }
  return 1;
}
