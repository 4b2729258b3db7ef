// What is at a Unix socket's path, found by connecting to it: the CLI tells a stale socket file
// from a live daemon with it, and the daemon refuses to take over a socket another process
// listens on.
#pragma once

#include <string>

namespace certinbox::base {

enum class SocketFile {
  kListening,      // a process accepts (or queues) connections there
  kNobodyListens,  // a socket file nothing listens on (left by a process that was killed)
  kNotASocket,     // a file that is not a socket
  kUnknown,        // missing, unreachable, a path too long for a socket address, ...
};

// Never blocks: the connect is non-blocking and closed at once.
SocketFile ProbeSocketFile(const std::string& path);

}  // namespace certinbox::base
