#include "tests/testing/config_dir.h"

#include "tests/testing/files.h"

namespace certinbox::testing {

namespace fs = std::filesystem;

fs::path ConfigDir::Write(const std::string& text) const {
  WriteFile(file(), text);
  return file();
}

fs::path ConfigDir::WriteFragment(const std::string& name, const std::string& text) const {
  fs::create_directories(dir_ / "conf.d");
  WriteFile(dir_ / "conf.d" / name, text);
  return dir_ / "conf.d" / name;
}

}  // namespace certinbox::testing
