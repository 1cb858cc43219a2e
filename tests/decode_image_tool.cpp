// effvit_decode_image IMAGE OUT.npy [--no-exif]: effvit's decoder on one file, as uint8 (H, W, 3),
// for tests that compare it with PIL on the same file (tests/image_formats.sh).
#include <cstdio>
#include <cstring>

#include "data/npy.h"
#include "effvit/error.h"
#include "effvit/image.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s IMAGE OUT.npy [--no-exif]\n", argv[0]);
    return 2;
  }
  try {
    effvit::DecodeOptions options;
    options.exif_orientation = !(argc > 3 && std::strcmp(argv[3], "--no-exif") == 0);
    const effvit::Image image = effvit::read_image(argv[1], options);
    effvit::Tensor t(effvit::DType::u8, {image.height, image.width, 3});
    std::memcpy(t.data<uint8_t>(), image.rgb.data(), image.rgb.size());
    effvit::write_npy(argv[2], t);
  } catch (const effvit::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
