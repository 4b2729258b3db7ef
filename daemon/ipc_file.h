// The socket file an ipc:// endpoint bound. libzmq leaves it behind when the socket closes, so
// after a clean stop a client would find a file where nothing listens and wait out its timeout.
// The daemon removes it on the way out, unless another process has bound the path since (the
// file there is not the one this daemon made).
#pragma once

#include <sys/types.h>

#include <string>

#include "base/error.h"

namespace certinbox::daemon {

// Before a bind: fails (bind_failed) when a process listens on the socket file of this ipc://
// endpoint (another certinboxd given the same [bus] endpoint). libzmq would replace the file
// without a word and leave that process unreachable. A file nothing listens on is fine.
base::Result<void> RefuseIfListening(const std::string& endpoint);

class IpcSocketFile {
 public:
  IpcSocketFile() = default;
  // Right after the bind: remembers which file `endpoint` made (nothing for tcp:// or an
  // abstract socket).
  explicit IpcSocketFile(const std::string& endpoint);
  IpcSocketFile(IpcSocketFile&& other) noexcept;
  IpcSocketFile& operator=(IpcSocketFile&& other) noexcept;
  IpcSocketFile(const IpcSocketFile&) = delete;
  IpcSocketFile& operator=(const IpcSocketFile&) = delete;
  ~IpcSocketFile() { Remove(); }

  // Unlinks the file if it is still the one remembered; then forgets it.
  void Remove() noexcept;

 private:
  std::string path_;  // "" when there is nothing to remove
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace certinbox::daemon
