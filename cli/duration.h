// Durations on the command line: "90s", "15m", "12h", "30d", "8w".
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certinbox::cli {

// Parses a whole number followed by one unit (s, m, h, d, w) into seconds. A bare number, a
// negative or fractional value, an unknown unit or more than 100 years is refused with a
// sentence that shows the accepted forms.
base::Result<int64_t> ParseDuration(std::string_view text);

}  // namespace certinbox::cli
