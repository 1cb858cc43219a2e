// PNG (libspng) and JPEG (libturbojpeg) decoding to RGB8, and atomic PNG writing.
#include <fcntl.h>
#include <spng.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "effvit/error.h"
#include "effvit/image.h"

namespace effvit {
namespace {

// Far beyond any photo, but keeps a hostile header from making us allocate gigabytes.
constexpr uint32_t kMaxSide = 1 << 15;
constexpr uint64_t kMaxPixels = uint64_t{1} << 28;

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
  throw Error(ErrorKind::invalid_input, name + ": " + problem);
}

void check_dimensions(const std::string& name, uint64_t width, uint64_t height) {
  if (width > kMaxSide || height > kMaxSide || width * height > kMaxPixels)
    fail(name, "image too large (" + std::to_string(width) + "x" + std::to_string(height) + ")");
}

bool starts_with(const std::vector<uint8_t>& bytes, std::initializer_list<uint8_t> magic) {
  return bytes.size() >= magic.size() && std::equal(magic.begin(), magic.end(), bytes.begin());
}

using SpngCtx = std::unique_ptr<spng_ctx, decltype(&spng_ctx_free)>;

Image decode_png(const std::vector<uint8_t>& bytes, const std::string& name) {
  SpngCtx ctx(spng_ctx_new(0), spng_ctx_free);
  if (!ctx) fail(name, "out of memory");
  auto check = [&](int rc) {
    if (rc != 0) fail(name, std::string("corrupt PNG: ") + spng_strerror(rc));
  };
  check(spng_set_png_buffer(ctx.get(), bytes.data(), bytes.size()));
  spng_ihdr ihdr;
  check(spng_get_ihdr(ctx.get(), &ihdr));
  check_dimensions(name, ihdr.width, ihdr.height);

  // SPNG_FMT_RGB8 covers every PNG colour type and depth: gray is replicated, palettes expanded,
  // 16-bit samples reduced and alpha dropped (no SPNG_DECODE_TRNS, so tRNS is ignored too).
  size_t size = 0;
  check(spng_decoded_image_size(ctx.get(), SPNG_FMT_RGB8, &size));
  Image image;
  image.width = static_cast<int>(ihdr.width);
  image.height = static_cast<int>(ihdr.height);
  image.rgb.resize(size);
  check(spng_decode_image(ctx.get(), image.rgb.data(), size, SPNG_FMT_RGB8, 0));
  return image;
}

using TjHandle = std::unique_ptr<void, decltype(&tjDestroy)>;

Image decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& name) {
  TjHandle tj(tjInitDecompress(), tjDestroy);
  if (!tj) fail(name, std::string("cannot start JPEG decoder: ") + tjGetErrorStr2(nullptr));
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), &width,
                          &height, &subsamp, &colorspace) != 0)
    fail(name, std::string("corrupt JPEG: ") + tjGetErrorStr2(tj.get()));
  // turbojpeg reports success without filling in the size when the data ends inside the header.
  if (width <= 0 || height <= 0) fail(name, "corrupt JPEG: missing or truncated header");
  check_dimensions(name, static_cast<uint64_t>(width), static_cast<uint64_t>(height));
  // turbojpeg only decodes these to CMYK, and turning CMYK into RGB needs a colour profile.
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) fail(name, "CMYK JPEGs are not supported");

  Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * 3);
  if (tjDecompress2(tj.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), image.rgb.data(),
                    width, 0, height, TJPF_RGB, TJFLAG_ACCURATEDCT) != 0) {
    std::string message = tjGetErrorStr2(tj.get());
    // Like PIL: tolerate libjpeg's warnings (e.g. stray bytes before a marker, common in camera
    // files) but not running out of data, which would leave the rest of the picture grey.
    bool truncated = message.find("remature end") != std::string::npos;
    if (tjGetErrorCode(tj.get()) == TJERR_FATAL || truncated) fail(name, "corrupt JPEG: " + message);
  }
  return image;
}

std::string errno_text() { return std::strerror(errno); }

// Returns false with errno set on failure.
bool write_all(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name_for_errors) {
  if (starts_with(bytes, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})) return decode_png(bytes, name_for_errors);
  if (starts_with(bytes, {0xff, 0xd8, 0xff})) return decode_jpeg(bytes, name_for_errors);
  fail(name_for_errors, bytes.empty() ? "empty file" : "not a JPEG or PNG image");
}

Image read_image(const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!file) fail(path, "cannot open file: " + errno_text());
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, file.get())) > 0) bytes.insert(bytes.end(), chunk, chunk + n);
  // A directory opens fine on Linux and only fails here, with EISDIR.
  if (std::ferror(file.get())) fail(path, "cannot read file: " + errno_text());
  return decode_image(bytes, path);
}

void write_png(const std::string& path, const Image& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
    fail(path, "cannot write an invalid " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                   " image with " + std::to_string(image.rgb.size()) + " bytes");

  SpngCtx ctx(spng_ctx_new(SPNG_CTX_ENCODER), spng_ctx_free);
  if (!ctx) fail(path, "out of memory");
  auto check = [&](int rc) {
    if (rc != 0) fail(path, std::string("cannot encode PNG: ") + spng_strerror(rc));
  };
  check(spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1));
  spng_ihdr ihdr{};
  ihdr.width = static_cast<uint32_t>(image.width);
  ihdr.height = static_cast<uint32_t>(image.height);
  ihdr.bit_depth = 8;
  ihdr.color_type = SPNG_COLOR_TYPE_TRUECOLOR;
  check(spng_set_ihdr(ctx.get(), &ihdr));
  check(spng_encode_image(ctx.get(), image.rgb.data(), image.rgb.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE));
  int rc = 0;
  size_t size = 0;
  std::unique_ptr<void, decltype(&std::free)> png(spng_get_png_buffer(ctx.get(), &size, &rc), std::free);
  if (!png) check(rc ? rc : SPNG_EINTERNAL);

  // Write beside the target and rename over it, so readers never see a half-written PNG. The
  // name is unique per process and call so concurrent writers do not share a temporary.
  static std::atomic<unsigned> counter{0};
  std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) fail(path, "cannot create file: " + errno_text());
  std::string error;
  if (!write_all(fd, png.get(), size)) error = errno_text();
  if (::close(fd) != 0 && error.empty()) error = errno_text();
  if (error.empty() && std::rename(tmp.c_str(), path.c_str()) != 0) error = errno_text();
  if (!error.empty()) {
    ::unlink(tmp.c_str());
    fail(path, "cannot write file: " + error);
  }
}

}  // namespace effvit
