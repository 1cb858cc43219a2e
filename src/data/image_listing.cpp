#include "data/image_listing.h"

#include <algorithm>
#include <filesystem>

#include "image/sniff.h"

namespace effvit {
namespace fs = std::filesystem;

namespace {

bool is_hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

void consider(const fs::directory_entry& entry, ImageListing& listing) {
  std::error_code ec;
  if (is_hidden(entry.path()) || !entry.is_regular_file(ec)) return;
  const ImageFormat format = sniff_image_file(entry.path().string());
  if (is_readable(format)) listing.images.push_back(entry.path().string());
  else listing.skipped.push_back({entry.path().string(), format});
}

}  // namespace

ImageListing list_images(const std::string& folder, bool recursive) {
  ImageListing listing;
  listing.folder = folder;
  std::error_code ec;
  if (recursive) {
    for (fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end; it != end; it.increment(ec)) {
      if (is_hidden(it->path()) && it->is_directory(ec)) it.disable_recursion_pending();  // .git, .cache: not the user's images
      consider(*it, listing);
    }
  } else {
    for (fs::directory_iterator it(folder, ec), end; it != end; it.increment(ec)) consider(*it, listing);
  }
  std::sort(listing.images.begin(), listing.images.end());
  std::sort(listing.skipped.begin(), listing.skipped.end(), [](const SkippedFile& a, const SkippedFile& b) { return a.path < b.path; });
  return listing;
}

std::string skipped_name(const ImageListing& listing, const SkippedFile& file) {
  std::error_code ec;
  const std::string what = image_format_name(file.format);
  return fs::relative(file.path, listing.folder, ec).string() + (what.empty() ? "" : " (" + what + ")");
}

std::string skipped_names(const ImageListing& listing) {
  const size_t n = listing.skipped.size();
  std::string named;
  for (size_t i = 0; i < n && i < 5; ++i) named += (i ? ", " : "") + skipped_name(listing, listing.skipped[i]);
  return named + (n > 5 ? ", ..." : "");
}

std::string skipped_note(const std::string& folder, const ImageListing& listing) {
  const size_t n = listing.skipped.size();
  if (n == 0) return "";
  return folder + ": skipped " + std::to_string(n) + (n == 1 ? " file that is" : " files that are") +
         " not a JPEG, PNG, WebP or BMP image (" + skipped_names(listing) + ")";
}

}  // namespace effvit
