// The images in a folder, recognised by content as single files are (a JPEG named "IMG_0001" is an
// image, "notes.jpg" is not), with the files passed over kept so that they can be counted and named
// rather than silently dropped.
#pragma once

#include <string>
#include <vector>

namespace effvit {

struct ImageListing {
  std::vector<std::string> images;   // readable formats, in name order
  std::vector<std::string> skipped;  // "a.gif (GIF)", "notes.txt": files that are not images effvit reads
};

// Hidden files (".DS_Store", "._IMG.jpg" from macOS) are neither listed nor counted.
ImageListing list_images(const std::string& folder, bool recursive);

// "a.gif (GIF), notes.txt, ..." (the first five skipped), or "".
std::string skipped_names(const ImageListing& listing);

// "FOLDER: skipped 3 files that are not JPEG, PNG, WebP or BMP images (a.gif (GIF), notes.txt, ...)",
// or "" when none was.
std::string skipped_note(const std::string& folder, const ImageListing& listing);

}  // namespace effvit
