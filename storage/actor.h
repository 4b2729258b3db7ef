// Who made a change, for the events it publishes (docs/protocol.md "Who asked").
#pragma once

#include <string>

namespace certinbox::storage {

// While one lives, every event appended on this thread gets "by": `who` (a CURVE client's
// "curve:NAME", an ipc:// peer's "uid N", "unknown peer"). The daemon makes one around each
// control request it dispatches on its loop thread; imports, the expiry scan and replies made
// later from the thread pool have none, and their events no "by". Nests: the previous actor
// comes back when it ends.
class ScopedActor {
 public:
  explicit ScopedActor(std::string who);
  ~ScopedActor();
  ScopedActor(const ScopedActor&) = delete;
  ScopedActor& operator=(const ScopedActor&) = delete;

  // This thread's actor, "" when none.
  static const std::string& Current();

 private:
  std::string previous_;
};

}  // namespace certinbox::storage
