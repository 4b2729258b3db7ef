#include "cli/file_out.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace certinbox::cli {

std::string WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes,
                                unsigned mode, bool overwrite) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::random_device random;
  std::filesystem::path temp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    temp = dir / ("." + path.filename().string() + "." + std::to_string(random()) + ".tmp");
    // O_EXCL: a name planted by someone else (a symlink, say) is never followed or reused.
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno != EEXIST) {
      return "cannot create a file in " + dir.string() + ": " + std::strerror(errno);
    }
  }
  if (fd < 0) return "cannot create a temporary file in " + dir.string();
  // The umask may have taken bits away, never added any: the mode is at most `mode`.
  size_t at = 0;
  while (at < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(temp.c_str());
      return "cannot write " + path.string() + ": " + why;
    }
    at += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(temp.c_str());
    return "cannot write " + path.string() + ": " + why;
  }
  // link() fails when the name exists, so an existing file is never replaced by accident;
  // rename() replaces it atomically when the user said --force.
  int rc = overwrite ? ::rename(temp.c_str(), path.c_str()) : ::link(temp.c_str(), path.c_str());
  int error = errno;
  if (!overwrite) ::unlink(temp.c_str());
  if (rc != 0) {
    if (overwrite) ::unlink(temp.c_str());
    if (error == EEXIST) return path.string() + " exists: use --force to replace it";
    return "cannot create " + path.string() + ": " + std::strerror(error);
  }
  return "";
}

}  // namespace certinbox::cli
