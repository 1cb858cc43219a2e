// Top-1/top-5 accuracy over a labelled set. Workers (one per core by default) each own a Session and
// decode, preprocess and infer their own items, so decoding overlaps inference on every core.
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "data/dataset.h"
#include "effvit/image.h"
#include "effvit/model.h"
#include "tools/effvit/commands.h"
#include "tools/effvit/image_options.h"
#include "tools/effvit/precision_option.h"
#include "tools/shared/labels.h"
#include "tools/effvit/progress.h"

namespace effvit::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Where the true class ranks among the logits (0 = top-1): every other class scoring at least as
// high counts against it, so a tie never counts as correct and a constant model scores at chance.
// Non-finite logits are an error naming the image: NaN compares false both ways and would rank the
// truth first.
int64_t rank_of_truth(const Tensor& logits, int label, const std::string& image) {
  const int64_t classes = logits.numel();
  if (label < 0 || label >= classes)
    throw Error(image + ": label " + std::to_string(label) + " but the model has " + std::to_string(classes) + " classes");
  const float* l = logits.data<float>();
  for (int64_t c = 0; c < classes; ++c)
    if (!std::isfinite(l[c])) throw Error(image + ": the model returned a non-finite logit (" + std::to_string(l[c]) + ") for class " + std::to_string(c));
  int64_t rank = 0;
  for (int64_t c = 0; c < classes; ++c) rank += c != label && l[c] >= l[label];
  return rank;
}

}  // namespace

Handler add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Top-1/top-5 accuracy on labelled data (IDX files or class folders)");
  struct Args {
    std::string model, data, labels, save_images;
    size_t limit = 0;
    int workers = 0, threads = 1;
    Precision precision = Precision::fp32;
    bool json = false, fail_fast = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "ONNX model")->required();
  cmd->add_option("--data", a->data, "IDX images file, folder holding an IDX pair, or ROOT/<class>/<image> tree")->required();
  cmd->add_option("--limit", a->limit, "Evaluate only the first N items");
  cmd->add_option("--labels", a->labels, "Class names, one per line (default: model metadata, else ImageNet-1k)");
  cmd->add_option("--workers", a->workers, "Parallel workers (default: one per core)")->check(CLI::Range(1, 256));
  cmd->add_option("--threads", a->threads, "Threads per worker's inference")->check(CLI::Range(1, 256));
  add_precision_option(cmd, a->precision);
  cmd->add_option("--save-images", a->save_images, "Also write each evaluated image as DIR/<class>/<index>.png");
  cmd->add_flag("--json", a->json, "Print JSON");
  cmd->add_flag("--fail-fast", a->fail_fast, "Stop at the first unreadable image (default: report it, go on, exit 1 at the end)");
  const auto image_options = add_image_options(cmd);
  return [=] {
    auto model = Model::load(a->model);
    const auto names = class_names(*model, a->labels);
    const Preprocess pre = image_options->preprocess(model->metadata());
    const SessionOptions options{.threads = a->threads, .precision = a->precision};
    // Made first so a precision this CPU lacks fails before any data is read.
    const std::string precision = Session(model, options).precision();
    say_precision(a->precision, precision);
    const auto data = open_dataset(a->data, names, image_options->decode());
    for (const std::string& note : data->notes()) std::fprintf(stderr, "effvit: note: %s\n", note.c_str());
    const size_t count = a->limit ? std::min(a->limit, data->size()) : data->size();
    const int workers = a->workers ? a->workers : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

    std::atomic<size_t> next{0};
    size_t done = 0, top1 = 0, top5 = 0;  // under mu: the progress line's ratio is of one moment
    std::atomic<bool> failed{false};
    std::string error;
    std::vector<std::pair<size_t, std::string>> bad_items;  // under mu: (item, why), reported at the end
    std::mutex mu;
    ProgressBar progress("eval", count);
    const auto t0 = Clock::now();
    auto work = [&] {
      try {
        Session session(model, options);
        for (size_t i; !failed && (i = next.fetch_add(1)) < count;) {
          const int label = data->label(i);
          // An image that cannot be read or run is this item's failure, not the whole run's
          // (unless --fail-fast); writing --save-images is the run's.
          std::optional<Image> image;
          Tensor logits;
          try {
            image = data->image(i);
            logits = session.run(preprocess(*image, pre));
          } catch (const Error& e) {
            const std::string what = e.what();
            // Decode errors name their file already; the engine's do not.
            std::string why = what.rfind(data->source(i), 0) == 0 ? what : data->source(i) + ": " + what;
            if (a->fail_fast) throw Error(why);
            std::lock_guard<std::mutex> lock(mu);
            bad_items.emplace_back(i, std::move(why));
            progress.update(done + bad_items.size(), "failed: " + std::to_string(bad_items.size()));
            continue;
          }
          if (!a->save_images.empty()) {
            const auto dir = std::filesystem::path(a->save_images) / class_folder_name(names[static_cast<size_t>(label)]);
            std::filesystem::create_directories(dir);
            write_png((dir / (std::to_string(i) + ".png")).string(), *image);
          }
          const int64_t rank = rank_of_truth(logits, label, data->source(i));
          std::lock_guard<std::mutex> lock(mu);
          top1 += rank == 0;
          top5 += rank < 5;
          ++done;
          char detail[48];
          std::snprintf(detail, sizeof detail, "top-1 %.2f%%", 100.0 * static_cast<double>(top1) / static_cast<double>(done));
          progress.update(done + bad_items.size(), bad_items.empty() ? std::string(detail) : std::string(detail) + ", failed: " + std::to_string(bad_items.size()));
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.exchange(true)) error = e.what();
      }
    };
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w) pool.emplace_back(work);
    for (auto& t : pool) t.join();
    if (failed) throw Error(error);
    std::sort(bad_items.begin(), bad_items.end());
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    // Accuracy over the images that were evaluated; the failed ones are listed, not scored.
    const double t1 = done ? static_cast<double>(top1) / static_cast<double>(done) : 0.0;
    const double t5 = done ? static_cast<double>(top5) / static_cast<double>(done) : 0.0;
    if (a->json) {
      nlohmann::json j{{"model", a->model}, {"precision", precision}, {"data", a->data}, {"count", done}, {"top1", t1}, {"top5", t5},
                       {"seconds", secs}, {"images_per_second", static_cast<double>(done) / secs}};
      j["failed"] = nlohmann::json::array();
      for (const auto& [item, why] : bad_items) j["failed"].push_back({{"file", data->source(item)}, {"error", why}});
      j["skipped"] = data->skipped();
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("%s (%s) on %s\n", a->model.c_str(), precision.c_str(), data->description().c_str());
      std::printf("top-1 %.2f%%  top-5 %.2f%%  (%zu images, %.1f s, %.0f img/s)\n", 100 * t1, 100 * t5, done, secs,
                  static_cast<double>(done) / secs);
      for (const auto& [item, why] : bad_items) std::printf("failed: %s\n", why.c_str());
      if (!bad_items.empty()) std::printf("%zu of %zu images failed and are not in the accuracy\n", bad_items.size(), count);
    }
    return bad_items.empty() ? 0 : 1;
  };
}

}  // namespace effvit::cli
