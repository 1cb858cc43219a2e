// Runs fuzz harnesses without libFuzzer: every file named on the command line, or found (sorted)
// in a folder named there, goes once through LLVMFuzzerTestOneInput. A missing folder is skipped
// (a harness may have no regression inputs yet). Used by the CTests fuzz_<name>, so the seed
// corpora and tests/fuzz_regressions/ are checked on every `make test` (and under ASan by
// `make sanitize`).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const fs::path p(argv[i]);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "%s: not found, skipped\n", argv[i]);
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.eof() && in.fail()) {
      std::fprintf(stderr, "%s: cannot read\n", f.c_str());
      return 1;
    }
    std::fprintf(stderr, "%s (%zu bytes)\n", f.c_str(), bytes.size());
    // A copy of exactly the input's size, so ASan sees a read past its end as libFuzzer would.
    std::vector<uint8_t> exact(bytes.begin(), bytes.end());
    uint8_t* data = exact.empty() ? nullptr : exact.data();
    LLVMFuzzerTestOneInput(data, exact.size());
  }
  std::printf("%zu inputs ran without a crash\n", files.size());
  return 0;
}
