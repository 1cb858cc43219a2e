// One function per CLI verb; each registers its subcommand and the handler that runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace effvit::cli {

using Handler = std::function<int()>;

Handler add_info(CLI::App& app);
Handler add_run(CLI::App& app);
Handler add_classify(CLI::App& app);
Handler add_bench(CLI::App& app);
Handler add_eval(CLI::App& app);
Handler add_quantize(CLI::App& app);
Handler add_serve(CLI::App& app);

}  // namespace effvit::cli
