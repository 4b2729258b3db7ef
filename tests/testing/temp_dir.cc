#include "tests/testing/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <iostream>
#include <system_error>

namespace certinbox::testing {

TempDir::TempDir(const std::string& prefix, Keep keep) : keep_(keep) {
  std::string pattern = "/tmp/" + prefix + "XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  if (keep_ == Keep::kOnFailure && ::testing::Test::HasFailure()) {
    std::cerr << "(kept " << path_.string() << ")\n";
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace certinbox::testing
