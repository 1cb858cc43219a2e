#include "data/dataset.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "data/idx.h"
#include "effvit/error.h"

namespace effvit {
namespace fs = std::filesystem;
bool has_image_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".webp" || ext == ".bmp";
}

std::string class_folder_name(std::string class_name) {
  for (char& c : class_name)
    if (c == '/' || c == ' ') c = '_';
  return class_name;
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
      if (e.is_directory()) classes.push_back(e.path().filename().string());
    std::sort(classes.begin(), classes.end());
    if (classes.empty()) throw Error(root + ": no class subfolders (expected ROOT/<class>/<image>)");
    // Folders map to classes all by name (the class itself, "Ankle boot", or with '/' and ' ' as
    // '_'), all by number, or (neither) by sorted position, which is said in mapping_note(); a
    // mix would silently mislabel, so it is an error naming the folders that match no class.
    // A literal match wins over the '_' form of another class ("x_y" is class "x_y", not "x y").
    auto by_name = [&](const std::string& folder) {
      auto literal = std::find(class_names.begin(), class_names.end(), folder);
      if (literal != class_names.end()) return literal;
      return std::find_if(class_names.begin(), class_names.end(), [&](const std::string& n) { return class_folder_name(n) == folder; });
    };
    auto numeric = [](const std::string& f) { return !f.empty() && f.size() <= 6 && f.find_first_not_of("0123456789") == std::string::npos; };
    const size_t named = static_cast<size_t>(std::count_if(classes.begin(), classes.end(), [&](const std::string& f) { return by_name(f) != class_names.end(); }));
    const size_t numbered = static_cast<size_t>(std::count_if(classes.begin(), classes.end(), numeric));
    if (named != 0 && named != classes.size()) {
      std::string strays;
      size_t listed = 0;
      for (const auto& f : classes)
        if (by_name(f) == class_names.end() && listed++ < 5) strays += (strays.empty() ? "'" : ", '") + f + "'";
      throw Error(root + ": " + std::to_string(named) + " class folders are named after the model's classes, but " +
                  std::to_string(classes.size() - named) + " are not (" + strays + (classes.size() - named > 5 ? ", ..." : "") +
                  "); rename or remove them");
    }
    const bool by_position = !named && numbered != classes.size();
    std::vector<bool> taken(class_names.size(), false);
    for (size_t k = 0; k < classes.size(); ++k) {
      int index = static_cast<int>(k);
      if (named) index = static_cast<int>(by_name(classes[k]) - class_names.begin());
      else if (numbered == classes.size()) index = std::stoi(classes[k]);
      if (by_position && index < static_cast<int>(class_names.size()))
        mapping_ += (mapping_.empty() ? "" : ", ") + classes[k] + " -> " + std::to_string(index) + " " + class_names[static_cast<size_t>(index)];
      if (index >= static_cast<int>(class_names.size()))
        throw Error(root + "/" + classes[k] + ": class folder maps to index " + std::to_string(index) + ", the model has " + std::to_string(class_names.size()) + " classes");
      if (taken[static_cast<size_t>(index)]) throw Error(root + "/" + classes[k] + ": a second folder for class " + std::to_string(index));
      taken[static_cast<size_t>(index)] = true;
      std::vector<std::string> files;
      for (const auto& e : fs::directory_iterator(fs::path(root) / classes[k]))
        if (e.is_regular_file() && has_image_extension(e.path().string())) files.push_back(e.path().string());
      std::sort(files.begin(), files.end());
      for (auto& f : files) items_.push_back({std::move(f), index});
    }
    if (items_.empty()) throw Error(root + ": no .png/.jpg/.jpeg/.webp/.bmp images in its class subfolders");
    if (by_position)
      mapping_ = root + ": class folders are not named after the model's classes; they map by sorted position: " + mapping_;
  }
  std::string mapping_note() const override { return mapping_; }
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
  std::string mapping_;
};

std::string labels_for(const std::string& images) {
  const std::string from = "images-idx3", to = "labels-idx1";
  const std::string name = fs::path(images).filename().string();
  const size_t at = name.find(from);
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
    if (has_image_extension(path))
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
