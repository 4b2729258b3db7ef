#include "daemon/ipc_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "base/error_codes.h"
#include "base/unix_socket.h"

namespace certinbox::daemon {

base::Result<void> RefuseIfListening(const std::string& endpoint) {
  if (!endpoint.starts_with("ipc://")) return {};
  const std::string path = endpoint.substr(6);
  if (path.empty() || path[0] == '@') return {};
  if (base::ProbeSocketFile(path) != base::SocketFile::kListening) return {};
  return base::Fail(base::code::kBindFailed,
                    "another process listens on " + path +
                        " (another certinboxd with the same endpoint?): stop it, or give this "
                        "daemon endpoints of its own in [bus]");
}

IpcSocketFile::IpcSocketFile(const std::string& endpoint) {
  if (!endpoint.starts_with("ipc://")) return;
  std::string path = endpoint.substr(6);
  struct stat st {};
  if (path.empty() || path[0] == '@' || ::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return;
  }
  path_ = std::move(path);
  dev_ = st.st_dev;
  ino_ = st.st_ino;
}

IpcSocketFile::IpcSocketFile(IpcSocketFile&& other) noexcept
    : path_(std::exchange(other.path_, {})), dev_(other.dev_), ino_(other.ino_) {}

IpcSocketFile& IpcSocketFile::operator=(IpcSocketFile&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::exchange(other.path_, {});
    dev_ = other.dev_;
    ino_ = other.ino_;
  }
  return *this;
}

void IpcSocketFile::Remove() noexcept {
  if (path_.empty()) return;
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev_ &&
      st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
  path_.clear();
}

}  // namespace certinbox::daemon
