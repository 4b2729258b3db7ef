// The one rule for names that come from outside (a sidecar, a control request, the config):
// entry names, groups, labels and resource names. Pure functions, any thread.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/error.h"
#include "pipeline/error.h"

namespace certinbox::pipeline {

inline constexpr size_t kMaxNameBytes = 255;

enum class NameKind {
  kEntryName,  // an entry's name: what `certinbox show NAME` and GROUP/NAME find
  kGroup,      // a group: the GROUP in GROUP/NAME
  kLabel,
  kResource,  // a binding's resource name (a plugin's target, often a path)
};

// The rule (docs/inbox.md "Names"): 1 to 255 bytes of well-formed UTF-8, no control
// characters (C0, DEL, C1), not "." or "..", and for entry names and groups no "/" (GROUP/NAME
// must find it). Error code "bad_name" ("bad_resource" for kResource); the message shows the
// text escaped and shortened, never raw.
base::Result<void> CheckName(std::string_view text, NameKind kind);

}  // namespace certinbox::pipeline
