// Labelled image sets for `effvit eval`: an IDX image file with its label file, or an
// ImageNet-style folder tree (one subfolder per class holding JPEG/PNG files).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "effvit/image.h"

namespace effvit {

// The folder name that stands for a class in a ROOT/<class>/<image> tree: class names may hold
// characters a path cannot ("T-shirt/top"), so '/' and ' ' become '_'.
std::string class_folder_name(std::string class_name);

// The class a folder in such a tree stands for, or -1: its name as is, else a spelling that
// differs only in case and in ' ', '_', '-', '/' ("ankle_boot" for "Ankle boot"). A literal match
// wins over a loose one ("x_y" is class "x_y", not "x y").
int class_of_folder(const std::string& folder, const std::vector<std::string>& class_names);

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  // Decodes item i (thread-safe). Throws effvit::Error naming the file for unreadable images.
  virtual Image image(size_t i) const = 0;
  virtual int label(size_t i) const = 0;
  // Where item i comes from, for messages: "t10k-images-idx3-ubyte.gz#17" or a file path.
  virtual std::string source(size_t i) const = 0;
  virtual std::string description() const = 0;
  // What a user cannot see from the data: class folders that map to the model's classes by sorted
  // position ("boots -> 0 T-shirt/top, ..."), files in them that are not images.
  virtual std::vector<std::string> notes() const { return {}; }
  // Files passed over in a folder tree because they are not images (a GIF, notes.txt), as paths.
  virtual std::vector<std::string> skipped() const { return {}; }
};

// `path` is an IDX images file (labels found by replacing "images-idx3" with "labels-idx1"), a
// directory holding such a pair (the t10k pair when train and test are both there), or a folder
// tree. Folder classes map to `class_names` by name (as is, or with '/' and ' ' as '_'), by number
// (all folders 0, 1, ...), otherwise to their sorted order (said by notes()). Throws effvit::Error on a missing labels file, mismatched counts, an empty
// folder tree or a label outside [0, classes).
// Images in a folder tree are JPEG, PNG, WebP or BMP files, decoded with `decode`.
std::unique_ptr<Dataset> open_dataset(const std::string& path, const std::vector<std::string>& class_names,
                                      const DecodeOptions& decode = {});

}  // namespace effvit
