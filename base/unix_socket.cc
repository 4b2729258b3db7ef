#include "base/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace certinbox::base {

SocketFile ProbeSocketFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return SocketFile::kUnknown;
  if (!S_ISSOCK(st.st_mode)) return SocketFile::kNotASocket;
  sockaddr_un address{};
  if (path.size() >= sizeof address.sun_path) return SocketFile::kUnknown;
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return SocketFile::kUnknown;
  SocketFile out = SocketFile::kListening;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    if (errno == ECONNREFUSED) {
      out = SocketFile::kNobodyListens;
    } else if (errno != EAGAIN && errno != EINPROGRESS) {
      out = SocketFile::kUnknown;
    }
  }
  ::close(fd);
  return out;
}

}  // namespace certinbox::base
