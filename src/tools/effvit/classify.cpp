// Classifies images (files, or every image in a folder) with the model's own preprocessing (from its metadata, else timm's
// eval transform) and prints the top-k classes; optionally renders a labelled contact sheet.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "data/dataset.h"
#include "data/image_listing.h"
#include "effvit/image.h"
#include "effvit/model.h"
#include "image/contact_sheet.h"
#include "tools/effvit/commands.h"
#include "tools/effvit/image_options.h"
#include "tools/effvit/precision_option.h"
#include "tools/shared/labels.h"

namespace effvit::cli {
namespace {

// One argument's image file, or a folder holding none, which fails in its turn as a bad file would.
struct ImageArg {
  std::string path;
  std::string error;  // a folder without images: what it holds instead
};

// Files as given (whatever their name: the decoder says what they are); a folder stands for its
// images, subfolders included, in name order, recognised by content as a file is.
std::vector<ImageArg> image_args(const std::vector<std::string>& args) {
  std::vector<ImageArg> files;
  for (const std::string& arg : args) {
    std::error_code ec;
    if (!std::filesystem::is_directory(arg, ec)) {
      files.push_back({arg, ""});
      continue;
    }
    const ImageListing listing = list_images(arg, true);
    if (listing.images.empty()) {
      const std::string holds = skipped_names(listing);
      files.push_back({arg, arg + ": a folder with no JPEG, PNG, WebP or BMP images" + (holds.empty() ? "" : "; it holds " + holds)});
      continue;
    }
    if (const std::string note = skipped_note(arg, listing); !note.empty()) std::fprintf(stderr, "effvit: note: %s\n", note.c_str());
    for (const std::string& image : listing.images) files.push_back({image, ""});
  }
  return files;
}

}  // namespace

Handler add_classify(CLI::App& app) {
  auto* cmd = app.add_subcommand("classify", "Classify JPEG, PNG, WebP or BMP images, or the images in folders");
  struct Args {
    std::string model, labels, render;
    std::vector<std::string> images;
    int topk = 5, threads = 1;
    Precision precision = Precision::fp32;
    bool json = false, fail_fast = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "ONNX model")->required();
  cmd->add_option("IMAGE", a->images, "JPEG, PNG, WebP or BMP files, or folders (their images, subfolders included, in name order)")
      ->required();
  cmd->add_option("--topk", a->topk, "Classes to print per image")->check(CLI::Range(1, 100000));
  cmd->add_option("--labels", a->labels, "Class names, one per line (default: model metadata, else ImageNet-1k)");
  cmd->add_option("--render", a->render, "Also write a contact sheet PNG with the predictions drawn on the images");
  cmd->add_option("--threads", a->threads, "Threads per inference")->check(CLI::Range(1, 256));
  add_precision_option(cmd, a->precision);
  cmd->add_flag("--json", a->json, "Print JSON");
  cmd->add_flag("--fail-fast", a->fail_fast, "Stop at the first image that cannot be read (default: report it, go on, exit 1 at the end)");
  const auto image_options = add_image_options(cmd);
  return [=] {
    // Before any work: the sheet is always a PNG, and a .jpg name holding one misleads every viewer.
    if (std::string ext = std::filesystem::path(a->render).extension().string(); !a->render.empty()) {
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (ext != ".png") throw Error(ErrorKind::invalid_input, a->render + ": --render writes a PNG; name it .png");
    }
    auto model = Model::load(a->model);
    const auto names = class_names(*model, a->labels);
    const Preprocess pre = image_options->preprocess(model->metadata());
    Session session(model, {.threads = a->threads, .precision = a->precision});
    say_precision(a->precision, session.precision());
    nlohmann::json results = nlohmann::json::array();
    std::vector<SheetItem> sheet;
    size_t failures = 0;
    for (const auto& [path, folder_error] : image_args(a->images)) {
      Image image;
      Tensor logits;
      try {
        if (!folder_error.empty()) throw Error(ErrorKind::invalid_input, folder_error);
        image = read_image(path, image_options->decode());
        logits = session.run(preprocess(image, pre));
      } catch (const Error& e) {
        const std::string what = e.what();
        const std::string why = what.rfind(path, 0) == 0 ? what : path + ": " + what;
        if (a->fail_fast) throw Error(why);
        ++failures;
        results.push_back({{"image", path}, {"file", path}, {"error", why}});
        std::fprintf(stderr, "effvit: %s\n", why.c_str());
        continue;
      }
      const auto ranked = top_classes(logits.data<float>(), logits.numel(), a->topk);
      nlohmann::json top = nlohmann::json::array();
      for (const RankedClass& r : ranked)
        top.push_back({{"index", r.index}, {"label", names[static_cast<size_t>(r.index)]}, {"prob", r.prob}});
      results.push_back({{"image", path}, {"top", top}});
      // An image inside a folder named after a class (as `eval --save-images` writes) has a known truth.
      const std::string folder = std::filesystem::path(path).parent_path().filename().string();
      const int truth = class_of_folder(folder, names);
      const bool known = truth >= 0;
      const auto best = static_cast<size_t>(ranked[0].index);
      const bool correct = known && truth == ranked[0].index;
      if (known) results.back()["true_label"] = names[static_cast<size_t>(truth)];
      if (!a->json) {
        std::printf("%s%s\n", path.c_str(),
                    known ? (std::string("  (true: ") + names[static_cast<size_t>(truth)] + (correct ? ", correct)" : ", WRONG)")).c_str() : "");
        for (const auto& t : top)
          std::printf("  %6.2f%%  %s (%d)\n", 100.0 * t["prob"].get<double>(), t["label"].get<std::string>().c_str(), t["index"].get<int>());
      }
      if (!a->render.empty()) {
        char line[256];
        std::snprintf(line, sizeof line, "%s %.0f%%", names[best].c_str(), 100.0 * ranked[0].prob);
        SheetItem item{image, {}};
        item.lines.push_back({line, !known ? 0x202020u : correct ? kSheetCorrect : kSheetWrong});
        if (known) item.lines.push_back({"true: " + names[static_cast<size_t>(truth)], 0x606060u});
        sheet.push_back(std::move(item));
      }
    }
    if (a->json) std::printf("%s\n", results.dump(2).c_str());
    // The count, where there is more than the one line to count.
    if (failures > 0 && results.size() > 1) std::fprintf(stderr, "effvit: %zu of %zu images failed\n", failures, results.size());
    if (!a->render.empty() && !sheet.empty()) {  // with every image failed, there is nothing to draw
      write_png(a->render, render_contact_sheet(sheet, std::min<int>(5, static_cast<int>(sheet.size())), 160));
      if (!a->json) std::printf("contact sheet: %s\n", a->render.c_str());
    }
    return failures > 0 ? 1 : 0;
  };
}

}  // namespace effvit::cli
