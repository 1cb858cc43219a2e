#include "data/dataset.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "data/idx.h"
#include "data/image_listing.h"
#include "effvit/error.h"
#include "image/sniff.h"

namespace effvit {
namespace fs = std::filesystem;
namespace {

// A class name as a folder may spell it: case, and ' ', '_', '-', '/', ignored.
std::string loose_class_name(const std::string& name) {
  std::string loose;
  for (const char c : name) {
    if (c == ' ' || c == '_' || c == '-' || c == '/') continue;
    loose += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return loose;
}

}  // namespace

std::string class_folder_name(std::string class_name) {
  for (char& c : class_name)
    if (c == '/' || c == ' ') c = '_';
  return class_name;
}

int class_of_folder(const std::string& folder, const std::vector<std::string>& class_names) {
  auto found = std::find(class_names.begin(), class_names.end(), folder);
  if (found == class_names.end()) {
    const std::string loose = loose_class_name(folder);
    found = std::find_if(class_names.begin(), class_names.end(), [&](const std::string& n) { return loose_class_name(n) == loose; });
  }
  return found == class_names.end() ? -1 : static_cast<int>(found - class_names.begin());
}

namespace {

class IdxDataset final : public Dataset {
 public:
  IdxDataset(const std::string& images_path, const std::string& labels_path, size_t classes) : images_path_(images_path) {
    IdxArray images = read_idx(images_path);
    IdxArray labels = read_idx(labels_path);
    if (images.dims.size() != 3) throw Error(images_path + ": expected an N x H x W image array, got rank " + std::to_string(images.dims.size()));
    if (labels.dims.size() != 1) throw Error(labels_path + ": expected a rank-1 label array");
    if (labels.dims[0] != images.dims[0])
      throw Error(labels_path + ": has " + std::to_string(labels.dims[0]) + " labels for " + std::to_string(images.dims[0]) + " images in " + images_path);
    for (size_t i = 0; i < labels.data.size(); ++i)
      if (labels.data[i] >= classes)
        throw Error(labels_path + ": label " + std::to_string(labels.data[i]) + " at index " + std::to_string(i) + " is outside the model's " + std::to_string(classes) + " classes");
    count_ = static_cast<size_t>(images.dims[0]);
    h_ = static_cast<int>(images.dims[1]);
    w_ = static_cast<int>(images.dims[2]);
    pixels_ = std::move(images.data);
    labels_ = std::move(labels.data);
  }
  size_t size() const override { return count_; }
  Image image(size_t i) const override {
    Image img;
    img.width = w_;
    img.height = h_;
    img.rgb.resize(static_cast<size_t>(w_) * h_ * 3);
    const uint8_t* src = &pixels_[i * static_cast<size_t>(w_) * h_];
    for (size_t p = 0; p < static_cast<size_t>(w_) * h_; ++p) img.rgb[3 * p] = img.rgb[3 * p + 1] = img.rgb[3 * p + 2] = src[p];
    return img;
  }
  int label(size_t i) const override { return labels_[i]; }
  std::string source(size_t i) const override { return images_path_ + "#" + std::to_string(i); }
  std::string description() const override { return images_path_ + " (" + std::to_string(count_) + " IDX images)"; }

 private:
  std::string images_path_;
  size_t count_ = 0;
  int h_ = 0, w_ = 0;
  std::vector<uint8_t> pixels_, labels_;
};

class FolderDataset final : public Dataset {
 public:
  FolderDataset(const std::string& root, const std::vector<std::string>& class_names, const DecodeOptions& decode)
      : root_(root), decode_(decode) {
    std::vector<std::string> classes;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory() && e.path().filename().string()[0] != '.') classes.push_back(e.path().filename().string());  // not .ipynb_checkpoints
    std::sort(classes.begin(), classes.end());
    if (classes.empty()) throw Error(root + ": no class subfolders (expected ROOT/<class>/<image>)");
    // Folders map to classes all by name (the class itself, "Ankle boot", or a spelling that
    // differs only in case and in ' ', '_', '-', '/': "ankle_boot"), all by number, or (neither)
    // by sorted position, as ImageNet's synset folders do, which is said in notes(). A mix
    // would silently mislabel, so it is an error naming the folders that match no class; so is
    // mapping by position when the folders are not one per class.
    auto by_name = [&](const std::string& folder) { return class_of_folder(folder, class_names); };
    auto numeric = [](const std::string& f) { return !f.empty() && f.size() <= 6 && f.find_first_not_of("0123456789") == std::string::npos; };
    const size_t named = static_cast<size_t>(std::count_if(classes.begin(), classes.end(), [&](const std::string& f) { return by_name(f) >= 0; }));
    const size_t numbered = static_cast<size_t>(std::count_if(classes.begin(), classes.end(), numeric));
    auto some_classes = [&] {  // all of a small set, so that the one meant can be found in it
      const size_t shown = class_names.size() <= 20 ? class_names.size() : 5;
      std::string listed;
      for (size_t i = 0; i < shown; ++i) listed += (i ? ", '" : "'") + class_names[i] + "'";
      return listed + (class_names.size() > shown ? ", ..." : "");
    };
    if (named != 0 && named != classes.size()) {
      std::string strays;
      size_t listed = 0;
      for (const auto& f : classes)
        if (by_name(f) < 0 && listed++ < 5) strays += (strays.empty() ? "'" : ", '") + f + "'";
      throw Error(root + ": " + std::to_string(named) + " class folders are named after the model's classes, but " +
                  std::to_string(classes.size() - named) + (classes.size() - named == 1 ? " is" : " are") + " not (" + strays +
                  (classes.size() - named > 5 ? ", ..." : "") + "); rename or remove them (the model's classes: " + some_classes() + ")");
    }
    if (named == 0 && numbered != classes.size() && classes.size() != class_names.size())
      throw Error(root + ": its " + std::to_string(classes.size()) + " class folders are not named after the model's " +
                  std::to_string(class_names.size()) + " classes (" + some_classes() +
                  "), and sorted position maps folders to classes only when there is one folder per class; name the folders "
                  "after the classes or number them 0.." + std::to_string(class_names.size() - 1));
    const bool by_position = !named && numbered != classes.size();
    std::string mapping;  // "boots -> 0 T-shirt/top, ...", said when folders map by position
    std::vector<bool> taken(class_names.size(), false);
    for (size_t k = 0; k < classes.size(); ++k) {
      int index = static_cast<int>(k);
      if (named) index = by_name(classes[k]);
      else if (numbered == classes.size()) index = std::stoi(classes[k]);
      if (by_position && index < static_cast<int>(class_names.size()))
        mapping += (mapping.empty() ? "" : ", ") + classes[k] + " -> " + std::to_string(index) + " " + class_names[static_cast<size_t>(index)];
      if (index >= static_cast<int>(class_names.size()))
        throw Error(root + "/" + classes[k] + ": class folder maps to index " + std::to_string(index) + ", the model has " + std::to_string(class_names.size()) + " classes");
      if (taken[static_cast<size_t>(index)]) throw Error(root + "/" + classes[k] + ": a second folder for class " + std::to_string(index));
      taken[static_cast<size_t>(index)] = true;
      const std::string folder = (fs::path(root) / classes[k]).string();
      ImageListing listing = list_images(folder, false);
      if (const std::string note = skipped_note(folder, listing); !note.empty()) notes_.push_back(note);
      for (const SkippedFile& file : listing.skipped) skipped_.push_back(file.path);
      for (auto& f : listing.images) items_.push_back({std::move(f), index});
    }
    if (items_.empty()) throw Error(root + ": no JPEG, PNG, WebP or BMP images in its class subfolders");
    if (by_position)
      notes_.insert(notes_.begin(), root + ": class folders are not named after the model's classes; they map by sorted position: " + mapping);
  }
  std::vector<std::string> notes() const override { return notes_; }
  std::vector<std::string> skipped() const override { return skipped_; }
  size_t size() const override { return items_.size(); }
  Image image(size_t i) const override { return read_image(items_[i].path, decode_); }
  int label(size_t i) const override { return items_[i].label; }
  std::string source(size_t i) const override { return items_[i].path; }
  std::string description() const override { return root_ + " (" + std::to_string(items_.size()) + " images in class folders)"; }

 private:
  struct Item {
    std::string path;
    int label;
  };
  std::string root_;
  DecodeOptions decode_;
  std::vector<Item> items_;
  std::vector<std::string> notes_, skipped_;
};

std::string labels_for(const std::string& images) {
  const std::string from = "images-idx3", to = "labels-idx1";
  const std::string name = fs::path(images).filename().string();
  const size_t at = name.find(from);
  if (const size_t labels_at = name.find(to); at == std::string::npos && labels_at != std::string::npos)
    throw Error(ErrorKind::invalid_input,
                images + ": this is the labels file; pass the images file, " +
                    (fs::path(images).parent_path() / (name.substr(0, labels_at) + from + name.substr(labels_at + to.size()))).string());
  if (at == std::string::npos) throw Error(images + ": cannot tell its labels file (name lacks 'images-idx3')");
  return (fs::path(images).parent_path() / (name.substr(0, at) + to + name.substr(at + from.size()))).string();
}

std::string find_idx_images(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().find("images-idx3") != std::string::npos) found.push_back(e.path().string());
  std::sort(found.begin(), found.end());
  if (found.size() <= 1) return found.empty() ? "" : found[0];
  for (const auto& f : found)
    if (fs::path(f).filename().string().rfind("t10k", 0) == 0) return f;  // the test split
  throw Error(dir + ": holds several IDX image files; pass one of them as --data");
}

}  // namespace

std::unique_ptr<Dataset> open_dataset(const std::string& path, const std::vector<std::string>& class_names,
                                      const DecodeOptions& decode) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": not found");
  if (fs::is_regular_file(path, ec)) {
    // One image has no label to score against: eval reads labelled sets.
    if (is_readable(sniff_image_file(path)))
      throw Error(ErrorKind::invalid_input, path + ": one image has no label to score; --data takes a ROOT/<class>/<image> folder tree or "
                                                   "an IDX images file (to classify images, use effvit classify)");
    const std::string labels = labels_for(path);
    if (!fs::exists(labels, ec)) throw Error(labels + ": labels file not found (needed for " + path + ")");
    return std::make_unique<IdxDataset>(path, labels, class_names.size());
  }
  const std::string idx = find_idx_images(path);
  if (!idx.empty()) {
    const std::string labels = labels_for(idx);
    if (!fs::exists(labels, ec)) throw Error(labels + ": labels file not found (needed for " + idx + ")");
    return std::make_unique<IdxDataset>(idx, labels, class_names.size());
  }
  return std::make_unique<FolderDataset>(path, class_names, decode);
}

}  // namespace effvit
