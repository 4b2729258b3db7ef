// What `certinbox` prints for people (and the JSON shapes it prints for scripts), as pure
// functions of the daemon's replies (docs/protocol.md), so they are tested without a daemon.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cli/json_text.h"

namespace certinbox::cli {

// `ls`, one page of the daemon's replies at a time, so the whole inventory is never held: Page()
// gives what to print for a reply, Finish() what follows the last one.
// - Text: the entries table (NAME GROUP KIND STATUS EXPIRES DAYS KEY FINDINGS FINGERPRINT),
//   its header once; a column is as wide as its widest cell so far (a wider cell on a later page
//   widens it from there on). Or "no certificates" ("no certificates match" when `filtered`).
//   Then the unmatched keys, if any.
// - JSON: {"entries": [...], "unmatched_keys": [...]}, the rows as the daemon sent them (a
//   missing list is []), laid out as nlohmann's dump with indent 2.
// The unmatched keys come with the first page (docs/protocol.md).
class InventoryPrinter {
 public:
  InventoryPrinter(bool json, bool filtered);
  std::string Page(const Json& ls_reply);
  std::string Finish();

 private:
  bool json_;
  bool filtered_;
  size_t rows_ = 0;
  std::vector<size_t> widths_;
  Json unmatched_keys_ = Json::array();
};

// The text of one `ls` reply that is the only page: InventoryPrinter's Page() and Finish().
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
