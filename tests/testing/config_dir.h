// A folder of a test's own holding a config file and its conf.d/ fragments, for tests that load
// a config (relative paths in it are relative to this folder).
#pragma once

#include <filesystem>
#include <string>

#include "tests/testing/temp_dir.h"

namespace certinbox::testing {

class ConfigDir {
 public:
  ConfigDir() : dir_("cbx-config-") {}

  const std::filesystem::path& dir() const { return dir_.path(); }
  // The config file: certinbox.toml in the folder.
  std::filesystem::path file() const { return dir_ / "certinbox.toml"; }
  // Writes the config file (as it is, whatever it holds) and returns its path.
  std::filesystem::path Write(const std::string& text) const;
  // Writes conf.d/NAME (conf.d/ made when needed) and returns its path.
  std::filesystem::path WriteFragment(const std::string& name, const std::string& text) const;

 private:
  TempDir dir_;
};

}  // namespace certinbox::testing
