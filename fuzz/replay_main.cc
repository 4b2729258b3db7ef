// main() for the fuzz targets outside libFuzzer: runs LLVMFuzzerTestOneInput once on every file
// given, and on every regular file in every folder given (recursively, in name order), so that
// the tests replay the seed corpora and the regression inputs under whatever sanitizers the build
// has. A folder that does not exist is skipped with a note (the generated corpus may be absent);
// files whose name starts with "open-" are crashes not fixed yet, skipped unless
// CERTINBOX_FUZZ_REPLAY_OPEN=1 (fuzz/regressions/README.md).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

bool IsOpen(const fs::path& file) { return file.filename().string().starts_with("open-"); }

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  const char* open_env = std::getenv("CERTINBOX_FUZZ_REPLAY_OPEN");
  const bool replay_open = open_env != nullptr && std::string(open_env) == "1";
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> found;
      for (const auto& entry : fs::recursive_directory_iterator(arg, ec)) {
        if (entry.is_regular_file()) found.push_back(entry.path());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(arg, ec)) {
      files.push_back(arg);
    } else {
      std::printf("replay: %s does not exist, skipped\n", argv[i]);
    }
  }
  size_t ran = 0;
  size_t skipped = 0;
  for (const fs::path& file : files) {
    if (IsOpen(file) && !replay_open) {
      std::printf("replay: %s is an open finding, skipped\n", file.c_str());
      ++skipped;
      continue;
    }
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
      return 1;
    }
    std::fflush(stdout);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++ran;
  }
  std::printf("replay: %zu inputs ran, %zu open findings skipped\n", ran, skipped);
  return 0;
}
