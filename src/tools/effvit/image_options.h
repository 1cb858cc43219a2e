// The image options classify, eval, run and serve (for images sent as BYTES) share: how photos are
// turned (EXIF) and resized.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "effvit/error.h"
#include "effvit/image.h"

namespace effvit::cli {

struct ImageOptions {
  std::string resize = "timm";
  bool no_exif = false;

  DecodeOptions decode() const {
    DecodeOptions d;
    d.exif_orientation = !no_exif;
    return d;
  }
  bool letterbox() const { return resize == "letterbox"; }
  // The model's own preprocessing with --resize applied.
  Preprocess preprocess(const std::map<std::string, std::string>& metadata) const {
    Preprocess pre = Preprocess::from_metadata(metadata);
    pre.letterbox = letterbox();
    return pre;
  }
};

inline std::shared_ptr<ImageOptions> add_image_options(CLI::App* cmd) {
  auto o = std::make_shared<ImageOptions>();
  cmd->add_option("--resize", o->resize,
                  "timm: shorter side to the model's resize size, then a center crop (default); letterbox: the whole image "
                  "scaled into the crop, padded with gray 127 (the RDK demo's rule)")
      ->check(CLI::IsMember({"timm", "letterbox"}));
  cmd->add_flag("--no-exif-rotate", o->no_exif, "Decode JPEGs as stored, ignoring their EXIF orientation");
  return o;
}

}  // namespace effvit::cli
