// effvit.Nv12ToRgb: NV12 uint8 [N, H*3/2, W, 1] -> float32 [N, 3, H, W] (RGB, or BGR with rgb=0),
// exactly OpenCV's COLOR_YUV2RGB_NV12. passes/fuse_nv12_input.cpp puts it in place of the int32
// ONNX ops `effvit quantize` writes for the same conversion (one pass over the frame instead of
// ~40 reference loops over int32 planes).
#include <algorithm>

#include "cpu/hardware.h"
#include "kernels/kernels.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "ops/registry_decls.h"

namespace effvit {
namespace {

void infer_nv12(InferContext& c) {
  const Shape& s = c.shape(0);
  if (c.input(0).dtype != DType::u8 || s.size() != 4 || s[3] != 1 || s[1] % 3 || s[2] % 2 || (s[1] / 3) % 2)
    c.fail("expects NV12 as uint8 [N, H*3/2, W, 1], got " + std::string(dtype_name(c.input(0).dtype)) + " " + shape_str(s));
  c.set_output(0, DType::f32, {s[0], 3, s[1] / 3 * 2, s[2]});
}

void compute_nv12(const Node& n, const TensorIn& in, const TensorOut& out) {
  using namespace bt601;
  const Shape& s = in[0]->shape();
  const int64_t batch = s[0], height = s[1] / 3 * 2, width = s[2], plane = height * width;
  const bool rgb = n.attr_int("rgb", 1) != 0;
  const uint8_t* x = in[0]->data<uint8_t>();
  float* y = out[0]->data<float>();
  auto clamp = [](int v) { return static_cast<float>(std::clamp(v, 0, 255)); };
  parallel_for(omp_get_max_threads(), batch * height, 16, [&](int64_t first, int64_t last) {
    for (int64_t row = first; row < last; ++row) {
      const int64_t b = row / height, i = row % height;
      const uint8_t* frame = x + b * plane * 3 / 2;
      const uint8_t* luma = frame + i * width;
      const uint8_t* chroma = frame + plane + (i / 2) * width;
      float* r_out = y + (b * 3 + (rgb ? 0 : 2)) * plane + i * width;
      float* g_out = y + (b * 3 + 1) * plane + i * width;
      float* b_out = y + (b * 3 + (rgb ? 2 : 0)) * plane + i * width;
      for (int64_t j = 0; j < width; ++j) {
        const int u = chroma[j & ~int64_t{1}] - 128, v = chroma[(j & ~int64_t{1}) + 1] - 128;
        const int luma_scaled = std::max(0, luma[j] - 16) * kY;
        // >> on a negative int rounds down, as OpenCV's does.
        r_out[j] = clamp((luma_scaled + kHalf + kVR * v) >> kShift);
        g_out[j] = clamp((luma_scaled + kHalf + kVG * v + kUG * u) >> kShift);
        b_out[j] = clamp((luma_scaled + kHalf + kUB * u) >> kShift);
      }
    }
  });
}

// Row by row through the tier's kernel, straight into the output planes.
class Nv12Kernel final : public Kernel {
 public:
  Nv12Kernel(bool rgb, int threads) : rgb_(rgb), threads_(threads), row_(hardware().kernels->nv12_row_f32) {}
  void run(const TensorIn& in, const TensorOut& out) override {
    const Shape& s = in[0]->shape();
    const int64_t batch = s[0], height = s[1] / 3 * 2, width = s[2], plane = height * width;
    const uint8_t* x = in[0]->data<uint8_t>();
    float* y = out[0]->data<float>();
    parallel_for(threads_, batch * height, 32, [&](int64_t first, int64_t last) {
      for (int64_t row = first; row < last; ++row) {
        const int64_t b = row / height, i = row % height;
        const uint8_t* frame = x + b * plane * 3 / 2;
        float* planes = y + b * 3 * plane + i * width;
        row_(frame + i * width, frame + plane + (i / 2) * width, width, planes + (rgb_ ? 0 : 2) * plane, planes + plane,
             planes + (rgb_ ? 2 : 0) * plane);
      }
    });
  }

 private:
  bool rgb_;
  int threads_;
  void (*row_)(const uint8_t*, const uint8_t*, int64_t, float*, float*, float*);
};

std::unique_ptr<Kernel> create_nv12(const Node& n, const Graph&, const KernelOptions& options) {
  return std::make_unique<Nv12Kernel>(n.attr_int("rgb", 1) != 0, std::max(1, options.threads));
}

}  // namespace

const OpDef kNv12ToRgbOp{"effvit.Nv12ToRgb", infer_nv12, compute_nv12, create_nv12};

}  // namespace effvit
