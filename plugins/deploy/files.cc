#include "plugins/deploy/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "base/error_codes.h"
#include "base/file.h"

namespace certinbox::deploy {
namespace {

std::string Cause(int error) { return std::strerror(error); }

}  // namespace

base::Result<void> EnsureFolder(const std::string& folder) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec)
    return base::Fail(base::code::kDeployFailed,
                      "cannot create the folder " + folder + ": " + ec.message());
  if (!std::filesystem::is_directory(folder, ec)) {
    return base::Fail(base::code::kDeployFailed, folder + " is not a folder");
  }
  return {};
}

base::Result<void> WriteDeployedFile(const std::string& folder, const std::string& name,
                                     const std::string& bytes, mode_t mode) {
  auto written = base::WriteFileAtomically(
      std::filesystem::path(folder) / name, bytes,
      {.mode = mode, .replace = true, .exact_mode = true, .sync_folder = true});
  if (!written) return base::Fail(base::code::kDeployFailed, std::move(written.error().message));
  return {};
}

base::Result<void> RemoveFile(const std::string& folder, const std::string& name) {
  const std::string target = folder + "/" + name;
  if (::unlink(target.c_str()) != 0 && errno != ENOENT) {
    return base::Fail(base::code::kDeployFailed, "cannot remove " + target + ": " + Cause(errno));
  }
  return {};
}

}  // namespace certinbox::deploy
