// Runs a model once on a constant input and prints the first output's shape and argmax: the
// smallest program that proves an installed effvit links and runs.
//
//   effvit_consumer model.onnx
#include <effvit/effvit.h>

#include <algorithm>
#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODEL.onnx\n", argv[0]);
    return 2;
  }
  try {
    auto model = effvit::Model::load(argv[1]);
    // The input shape comes from the model, so the program serves any image size; a dynamic
    // dimension (-1, normally the batch) runs as 1.
    effvit::Shape shape = model->summary().inputs.at(0).shape;
    for (auto& d : shape) d = d < 0 ? 1 : d;
    effvit::Tensor input(effvit::DType::f32, shape);
    // A constant rather than zeros: a mean-grey image, not a degenerate all-zero one.
    std::fill_n(input.data<float>(), input.numel(), 0.5f);

    effvit::Session session(model);
    effvit::Tensor logits = session.run(input);
    const float* v = logits.data<float>();  // throws effvit::Error if the output is not float32
    const int64_t best = std::max_element(v, v + logits.numel()) - v;
    std::printf("output %s argmax %lld\n", effvit::shape_str(logits.shape()).c_str(), static_cast<long long>(best));
  } catch (const effvit::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
