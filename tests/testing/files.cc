#include "tests/testing/files.h"

#include <fstream>
#include <sstream>

namespace certinbox::testing {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFile(const fs::path& file, std::string_view bytes) {
  std::ofstream(file, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
}

void ReplaceFile(const fs::path& file, std::string_view bytes) {
  fs::path temporary = file;
  temporary += ".tmp";
  WriteFile(temporary, bytes);
  fs::rename(temporary, file);
}

}  // namespace certinbox::testing
