// PNG (libspng), JPEG (libturbojpeg; CMYK and YCCK too), WebP (libwebp) and BMP (stb_image)
// decoding to RGB8, JPEG EXIF orientation applied as a phone's gallery shows it, and atomic PNG
// writing.
#include <fcntl.h>
#include <spng.h>
#include <stb_image.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <webp/decode.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "effvit/error.h"
#include "effvit/image.h"
#include "image/sniff.h"

namespace effvit {
namespace {

// Far beyond any photo, but keeps a hostile header from making us allocate gigabytes.
constexpr uint32_t kMaxSide = 1 << 15;
constexpr uint64_t kMaxPixels = uint64_t{1} << 28;

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
  throw Error(ErrorKind::invalid_input, name + ": " + problem);
}

void check_dimensions(const std::string& name, uint64_t width, uint64_t height, const DecodeOptions& options) {
  const uint64_t max_pixels = options.max_pixels > 0 ? std::min<uint64_t>(kMaxPixels, static_cast<uint64_t>(options.max_pixels)) : kMaxPixels;
  if (width > kMaxSide || height > kMaxSide || width * height > max_pixels) {
    // The option can raise only the caller's own limit, never effvit's.
    const bool option_raises_it = !options.max_pixels_option.empty() && width <= kMaxSide && height <= kMaxSide &&
                                  width * height <= kMaxPixels;
    fail(name, "image too large (" + std::to_string(width) + "x" + std::to_string(height) + ", at most " + std::to_string(max_pixels) +
                   " pixels)" + (option_raises_it ? "; raise it with " + options.max_pixels_option : ""));
  }
}

using SpngCtx = std::unique_ptr<spng_ctx, decltype(&spng_ctx_free)>;

Image decode_png(const std::vector<uint8_t>& bytes, const std::string& name, const DecodeOptions& options) {
  SpngCtx ctx(spng_ctx_new(0), spng_ctx_free);
  if (!ctx) fail(name, "out of memory");
  auto check = [&](int rc) {
    if (rc != 0) fail(name, std::string("corrupt PNG: ") + spng_strerror(rc));
  };
  check(spng_set_png_buffer(ctx.get(), bytes.data(), bytes.size()));
  spng_ihdr ihdr;
  check(spng_get_ihdr(ctx.get(), &ihdr));
  check_dimensions(name, ihdr.width, ihdr.height, options);

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

// What the segments before a JPEG's image data say that matters here: the EXIF orientation.
struct JpegMarkers {
  int orientation = 1;  // EXIF 1..8; 1 = as stored
};

uint32_t read_u16(const uint8_t* p, bool big_endian) { return big_endian ? (p[0] << 8) | p[1] : (p[1] << 8) | p[0]; }
uint32_t read_u32(const uint8_t* p, bool big_endian) {
  return big_endian ? (uint32_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3]
                    : (uint32_t{p[3]} << 24) | (p[2] << 16) | (p[1] << 8) | p[0];
}

// Tag 0x0112 of IFD0 in a TIFF block ("II"/"MM" header); 1 when absent or malformed.
int exif_orientation(const uint8_t* tiff, size_t size) {
  if (size < 8 || !((tiff[0] == 'I' && tiff[1] == 'I') || (tiff[0] == 'M' && tiff[1] == 'M'))) return 1;
  const bool be = tiff[0] == 'M';
  const uint32_t ifd = read_u32(tiff + 4, be);
  if (ifd > size - 2) return 1;
  const uint32_t entries = read_u16(tiff + ifd, be);
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t at = ifd + 2 + size_t{i} * 12;
    if (at + 12 > size) break;
    const uint32_t type = read_u16(tiff + at + 2, be);
    if (read_u16(tiff + at, be) != 0x0112 || (type != 3 && type != 4)) continue;  // SHORT, or LONG as some writers store it
    const uint32_t v = type == 3 ? read_u16(tiff + at + 8, be) : read_u32(tiff + at + 8, be);
    return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
  }
  return 1;
}

JpegMarkers scan_jpeg_markers(const std::vector<uint8_t>& b) {
  JpegMarkers m;
  size_t at = 2;  // after SOI
  bool exif_seen = false;
  while (at + 4 <= b.size() && b[at] == 0xff) {
    if (b[at + 1] == 0xff) {  // fill byte before a marker
      ++at;
      continue;
    }
    const uint8_t marker = b[at + 1];
    if (marker == 0xda || marker == 0xd9) break;  // start of scan / end of image
    const size_t length = (size_t{b[at + 2]} << 8) | b[at + 3];
    if (length < 2 || at + 2 + length > b.size()) break;
    const uint8_t* payload = b.data() + at + 4;
    const size_t n = length - 2;
    // The first Exif segment counts, as in PIL and OpenCV.
    if (marker == 0xe1 && !exif_seen && n >= 6 && std::memcmp(payload, "Exif\0\0", 6) == 0) {
      m.orientation = exif_orientation(payload + 6, n - 6);
      exif_seen = true;
    }
    at += 2 + length;
  }
  return m;
}

// CMYK -> RGB as PIL converts it: each of R, G, B is (255 - K) scaled by (255 - C/M/Y) / 255,
// rounded the way PIL's MULDIV255 rounds. The stored values are taken as inverted, the Adobe
// (Photoshop) convention nearly every CMYK JPEG follows; PIL and OpenCV assume it even without
// the Adobe segment, and so do we.
void cmyk_to_rgb(const uint8_t* cmyk, size_t pixels, uint8_t* rgb) {
  auto muldiv255 = [](int a, int b) {
    const int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (size_t i = 0; i < pixels; ++i) {
    int v[4];
    for (int c = 0; c < 4; ++c) v[c] = 255 - cmyk[i * 4 + c];
    const int nk = 255 - v[3];
    for (int c = 0; c < 3; ++c) rgb[i * 3 + c] = static_cast<uint8_t>(std::clamp(nk - muldiv255(v[c], nk), 0, 255));
  }
}

using TjHandle = std::unique_ptr<void, decltype(&tjDestroy)>;

Image decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& name, const DecodeOptions& options) {
  TjHandle tj(tjInitDecompress(), tjDestroy);
  if (!tj) fail(name, std::string("cannot start JPEG decoder: ") + tjGetErrorStr2(nullptr));
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), &width,
                          &height, &subsamp, &colorspace) != 0)
    fail(name, std::string("corrupt JPEG: ") + tjGetErrorStr2(tj.get()));
  // turbojpeg reports success without filling in the size when the data ends inside the header.
  if (width <= 0 || height <= 0) fail(name, "corrupt JPEG: missing or truncated header");
  check_dimensions(name, static_cast<uint64_t>(width), static_cast<uint64_t>(height), options);
  const JpegMarkers markers = scan_jpeg_markers(bytes);
  // turbojpeg decodes CMYK and YCCK files to CMYK only; those become RGB as PIL makes them.
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;

  Image image;
  image.width = width;
  image.height = height;
  std::vector<uint8_t> decoded(static_cast<size_t>(width) * height * (cmyk ? 4 : 3));
  if (tjDecompress2(tj.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), decoded.data(), width, 0, height,
                    cmyk ? TJPF_CMYK : TJPF_RGB, TJFLAG_ACCURATEDCT) != 0) {
    std::string message = tjGetErrorStr2(tj.get());
    // Like PIL: tolerate libjpeg's warnings (e.g. stray bytes before a marker, common in camera
    // files) but not running out of data, which would leave the rest of the picture grey.
    bool truncated = message.find("remature end") != std::string::npos;
    if (tjGetErrorCode(tj.get()) == TJERR_FATAL || truncated) fail(name, "corrupt JPEG: " + message);
  }
  if (cmyk) {
    image.rgb.resize(static_cast<size_t>(width) * height * 3);
    cmyk_to_rgb(decoded.data(), static_cast<size_t>(width) * height, image.rgb.data());
  } else {
    image.rgb = std::move(decoded);
  }
  return options.exif_orientation ? apply_orientation(image, markers.orientation) : image;
}

Image decode_webp(const std::vector<uint8_t>& bytes, const std::string& name, const DecodeOptions& options) {
  int width = 0, height = 0;
  if (!WebPGetInfo(bytes.data(), bytes.size(), &width, &height) || width <= 0 || height <= 0) fail(name, "corrupt WebP header");
  check_dimensions(name, static_cast<uint64_t>(width), static_cast<uint64_t>(height), options);
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * 3);
  if (!WebPDecodeRGBInto(bytes.data(), bytes.size(), image.rgb.data(), image.rgb.size(), width * 3))
    fail(name, "corrupt WebP data");
  return image;
}

uint32_t le32(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24); }

Image decode_bmp(const std::vector<uint8_t>& bytes, const std::string& name, const DecodeOptions& options) {
  // The header checked here first: stb_image fills the rows a truncated file lacks with black, and
  // a 54-byte file may claim any size (PIL and OpenCV refuse both).
  if (bytes.size() < 54 || bytes.size() > static_cast<size_t>(INT32_MAX)) fail(name, "corrupt BMP: bad header");
  const uint32_t offset = le32(&bytes[10]);
  // An OS/2 (BITMAPCOREHEADER, 12 bytes) header has 16-bit sizes and no compression field.
  const bool core = le32(&bytes[14]) == 12;
  const int64_t width = core ? bytes[18] | (bytes[19] << 8) : static_cast<int32_t>(le32(&bytes[18]));
  const int64_t height = core ? bytes[20] | (bytes[21] << 8) : static_cast<int32_t>(le32(&bytes[22]));
  const uint32_t bpp = core ? bytes[24] | (bytes[25] << 8) : bytes[28] | (bytes[29] << 8);
  const uint32_t compression = core ? 0 : le32(&bytes[30]);
  if (width <= 0 || height == 0) fail(name, "corrupt BMP: bad size");
  check_dimensions(name, static_cast<uint64_t>(width), static_cast<uint64_t>(std::llabs(height)), options);  // negative: top-down
  if (compression == 0 || compression == 3) {  // uncompressed (BI_RGB, BI_BITFIELDS): rows of known size
    const uint64_t row = (static_cast<uint64_t>(width) * bpp + 31) / 32 * 4;
    if (offset + row * static_cast<uint64_t>(std::llabs(height)) > bytes.size()) fail(name, "corrupt BMP: truncated pixel data");
  }
  int w = 0, h = 0, channels = 0;
  const int size = static_cast<int>(bytes.size());
  std::unique_ptr<stbi_uc, decltype(&stbi_image_free)> pixels(stbi_load_from_memory(bytes.data(), size, &w, &h, &channels, 3),
                                                              stbi_image_free);
  if (!pixels || w <= 0 || h <= 0)
    fail(name, std::string("corrupt or unsupported BMP: ") + (stbi_failure_reason() ? stbi_failure_reason() : "decode failed"));
  Image image;
  image.width = w;
  image.height = h;
  image.rgb.assign(pixels.get(), pixels.get() + static_cast<size_t>(w) * h * 3);
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

Image apply_orientation(const Image& image, int orientation) {
  if (orientation <= 1 || orientation > 8) return image;
  const int w = image.width, h = image.height;
  const bool swap = orientation >= 5;
  Image out;
  out.width = swap ? h : w;
  out.height = swap ? w : h;
  out.rgb.resize(image.rgb.size());
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;  // the stored pixel shown at (x, y)
      switch (orientation) {
        case 2: sx = w - 1 - x; break;                   // mirrored
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;   // upside down
        case 4: sy = h - 1 - y; break;                   // mirrored upside down
        case 5: sx = y; sy = x; break;                   // transposed
        case 6: sx = y; sy = h - 1 - x; break;           // stored rotated 90 anticlockwise
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;   // transversed
        case 8: sx = w - 1 - y; sy = x; break;           // stored rotated 90 clockwise
      }
      std::memcpy(&out.rgb[(static_cast<size_t>(y) * out.width + x) * 3], &image.rgb[(static_cast<size_t>(sy) * w + sx) * 3], 3);
    }
  return out;
}

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name_for_errors, const DecodeOptions& options) {
  const ImageFormat format = sniff_image_format(bytes.data(), bytes.size());
  switch (format) {
    case ImageFormat::png: return decode_png(bytes, name_for_errors, options);
    case ImageFormat::jpeg: return decode_jpeg(bytes, name_for_errors, options);
    case ImageFormat::webp: return decode_webp(bytes, name_for_errors, options);
    case ImageFormat::bmp: return decode_bmp(bytes, name_for_errors, options);
    case ImageFormat::unknown: break;
    default: fail(name_for_errors, std::string("a ") + image_format_name(format) + " image; effvit reads JPEG, PNG, WebP and BMP");
  }
  fail(name_for_errors, bytes.empty() ? "empty file" : "not a JPEG, PNG, WebP or BMP image");
}

Image read_image(const std::string& path, const DecodeOptions& options) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!file) fail(path, "cannot open file: " + errno_text());
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, file.get())) > 0) bytes.insert(bytes.end(), chunk, chunk + n);
  // A directory opens fine on Linux and only fails here, with EISDIR.
  if (std::ferror(file.get())) fail(path, errno == EISDIR ? "a folder, not an image file" : "cannot read file: " + errno_text());
  return decode_image(bytes, path, options);
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
