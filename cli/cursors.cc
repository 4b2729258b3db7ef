// `certinbox cursors`: the named event cursors, and deleting one that nobody uses any more (a
// cursor holds back the outbox's retention until it acknowledges).
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/render.h"

namespace certinbox::cli {

int RunCursors(const GlobalOptions& global, const CursorsOptions& options) {
  auto session = Session::Open(global);
  if (!session) return session.error();
  if (!options.remove.empty()) {
    auto reply = (*session)->Request("cursor.delete", {{"cursor", options.remove}});
    if (!reply) return (*session)->Fail(reply.error());
    if (options.json) {
      std::cout << DumpJson(*reply) << "\n";
    } else {
      std::cout << "deleted cursor " << options.remove << "\n";
    }
    return kExitOk;
  }
  auto reply = (*session)->Request("cursors");
  if (!reply) return (*session)->Fail(reply.error());
  const Json& cursors = FieldOf(*reply, "cursors");
  if (options.json) {
    // An object, as every other --json prints, so a field can be added without breaking readers.
    Json out = {{"cursors", cursors.is_array() ? cursors : Json::array()}};
    std::cout << DumpJson(out, 2) << "\n";
  } else if (!cursors.is_array() || cursors.empty()) {
    std::cout << "no cursors\n";
  } else {
    std::cout << RenderCursors(cursors);
  }
  return kExitOk;
}

}  // namespace certinbox::cli
