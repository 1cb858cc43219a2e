// The images in a folder, recognised by content as single files are (a JPEG named "IMG_0001" is an
// image, "notes.jpg" is not), with the files passed over kept so that they can be counted and named
// rather than silently dropped.
#pragma once

#include <string>
#include <vector>

#include "image/sniff.h"

namespace effvit {

struct SkippedFile {
  std::string path;
  ImageFormat format;  // what it was seen to be (unknown for notes.txt), for the note naming it
};

struct ImageListing {
  std::string folder;
  std::vector<std::string> images;   // readable formats, in name order
  std::vector<SkippedFile> skipped;  // the other files, in name order (a GIF, notes.txt)
};

// Hidden files (".DS_Store", "._IMG.jpg" from macOS) are neither listed nor counted.
ImageListing list_images(const std::string& folder, bool recursive);

// "a.gif (GIF), notes.txt, ..." (the first five skipped, relative to the folder, with what they are), or "".
std::string skipped_names(const ImageListing& listing);
// One skipped file as skipped_names names it: "sub/a.gif (GIF)".
std::string skipped_name(const ImageListing& listing, const SkippedFile& file);

// "FOLDER: skipped 3 files that are not JPEG, PNG, WebP or BMP images (a.gif (GIF), notes.txt, ...)",
// or "" when none was.
std::string skipped_note(const std::string& folder, const ImageListing& listing);

}  // namespace effvit
