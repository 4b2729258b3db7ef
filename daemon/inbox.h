// One watched inbox as the daemon holds it: its config, its watcher, and how many of its files
// the import service holds. Loop thread only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "daemon/config.h"
#include "watchers/inbox_watcher.h"

namespace certinbox::daemon {

// One watched inbox: its config and its watcher. Owned by the daemon, address stable.
struct Inbox {
  // Unique for the daemon's life: a reload that changes an inbox makes a new Inbox (and id), so
  // work read ahead for the old one is never taken for the new one.
  const uint64_t id = NextId();
  InboxConfig config;
  std::unique_ptr<watchers::InboxWatcher> watcher;
  // Files handed to the import service and not yet finished, failed or released. An inbox a
  // config reload removed (retired) is destroyed only when this is 0: jobs use its watcher.
  size_t jobs = 0;
  bool retired = false;  // takes no new files

 private:
  static uint64_t NextId() {
    static std::atomic<uint64_t> next{1};
    return next++;
  }
};

// An inbox of the config whose watcher could not start (its folder could not be made or
// opened): `status` shows why until a reload (SIGHUP) watches it.
struct UnwatchedInbox {
  std::string name;
  std::filesystem::path path;
  std::string error;
};

}  // namespace certinbox::daemon
