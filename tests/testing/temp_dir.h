// A folder of a test's own under /tmp, removed with everything in it when the object goes.
#pragma once

#include <filesystem>
#include <string>

namespace certinbox::testing {

class TempDir {
 public:
  // When the folder goes: always, or only when the running test has not failed (a failed test
  // leaves it to be looked into, and says where it is on stderr).
  enum class Keep { kNever, kOnFailure };

  // Makes /tmp/PREFIXxxxxxx (mode 0700); throws std::system_error when it cannot. Short on
  // purpose: an ipc:// endpoint inside it must stay under the 107 bytes of a socket path.
  explicit TempDir(const std::string& prefix = "cbx-", Keep keep = Keep::kNever);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& relative) const {
    return path_ / relative;
  }

 private:
  std::filesystem::path path_;
  Keep keep_;
};

}  // namespace certinbox::testing
