// What `certinbox` prints for people (and the JSON shapes it prints for scripts), as pure
// functions of the daemon's replies (docs/protocol.md), so they are tested without a daemon.
#pragma once

#include <string>

#include "cli/json_text.h"

namespace certinbox::cli {

// `ls --json`: {"entries": [...], "unmatched_keys": [...]} with the daemon's objects as sent
// (a missing list becomes []).
Json InventoryJson(const Json& ls_reply);

// `ls`: the entries table (NAME GROUP KIND STATUS EXPIRES DAYS KEY FINDINGS FINGERPRINT), or
// "no certificates" ("no certificates match" when `filtered`), then the unmatched keys, if any.
std::string RenderInventory(const Json& ls_reply, bool filtered);

// `show`: aligned "label: value" lines for one entry; with `versions`, its versions table.
std::string RenderEntry(const Json& entry, bool versions);

// `status`: the daemon's health summary.
std::string RenderStatus(const Json& status);

// The cursors table (CURSOR SEQ BEHIND LAST ACK) of `status` and `cursors`.
std::string RenderCursors(const Json& cursors);

// `events`: one line, no newline: SEQ TIME TYPE NAME-or-SOURCE detail.
std::string RenderEvent(const Json& event);

// `rm`: ENTRY OUTCOME DETAIL, one row per name asked (deleted: GROUP/NAME and id; otherwise
// the error's code and message).
std::string RenderDeleteResults(const Json& rm_reply);

// `show`: RESOURCE PLUGIN SOURCE PUSHED LAST-PUSH for the entry's bindings; "" when none.
std::string RenderBindings(const Json& entry);

// `status`: the config's [[binding]] declarations that could not be applied; "" when none.
std::string RenderBindingProblems(const Json& status);

}  // namespace certinbox::cli
