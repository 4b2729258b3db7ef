#include "daemon/inbox_paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace certinbox::daemon {

std::string InboxPathProblem(const std::filesystem::path& path) {
  const std::string user = "this user (uid " + std::to_string(::geteuid()) + ")";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return path.string() + " is not a folder";
    if (::access(path.c_str(), R_OK | W_OK | X_OK) != 0) {
      return path.string() + " cannot be read and written by " + user + ": " + std::strerror(errno);
    }
    return {};
  }
  if (errno != ENOENT) return "cannot look at " + path.string() + ": " + std::strerror(errno);
  const std::filesystem::path parent = path.parent_path();
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return "its parent folder " + parent.string() +
           " does not exist: create it (certinboxd makes the inbox folder, not its parents)";
  }
  if (::access(parent.c_str(), W_OK | X_OK) != 0) {
    return path.string() + " does not exist and " + user + " cannot create it in " +
           parent.string() + ": " + std::strerror(errno);
  }
  return {};
}

}  // namespace certinbox::daemon
