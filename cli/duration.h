// Durations on the command line, in whole seconds: base/duration.h's grammar ("90s", "15m",
// "12h", "30d", "8w").
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certinbox::cli {

// base::ParseDuration in seconds; a value that is not whole seconds ("1500ms") is refused.
base::Result<int64_t> ParseDuration(std::string_view text);

}  // namespace certinbox::cli
