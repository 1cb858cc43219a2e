// ONNX model loading through to a plan (include/effvit/model.h): Model::load_from_memory, then a
// Session's plan for the model's example input shapes and, when that input is small, a run on zeros.
#include <cstdint>
#include <cstdlib>

#include "effvit/error.h"
#include "effvit/model.h"

namespace {

// A run only for inputs this small (elements over all inputs) and plans of this arena at most, so
// each input stays a few milliseconds; bigger models stop at the plan.
constexpr int64_t kMaxRunElements = int64_t{1} << 16;
constexpr size_t kMaxRunArena = size_t{64} << 20;
// Larger files than this are not models a mutation of the seeds needs to reach.
constexpr size_t kMaxBytes = size_t{1} << 20;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Hostile models keep the user's default (a reference-loop fallback warns, it is not an error);
  // one thread: libFuzzer's process runs one input at a time.
  unsetenv("EFFVIT_STRICT");
  setenv("OMP_NUM_THREADS", "1", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxBytes) return 0;
  try {
    auto model = effvit::Model::load_from_memory(data, size, "fuzz.onnx");
    const std::vector<effvit::Shape>& shapes = model->example_input_shapes();
    effvit::Session session(model, {.threads = 1});
    const effvit::Session::PlanInfo plan = session.plan_info(shapes);
    int64_t elements = 0;
    for (const auto& s : shapes) elements += effvit::shape_numel(s);
    if (elements > kMaxRunElements || plan.arena_bytes > kMaxRunArena) return 0;
    std::vector<effvit::Tensor> inputs;
    const auto& infos = model->summary().inputs;
    for (size_t i = 0; i < shapes.size() && i < infos.size(); ++i) inputs.emplace_back(infos[i].dtype, shapes[i]);
    (void)session.run(inputs);
  } catch (const effvit::Error&) {
  }
  return 0;
}
