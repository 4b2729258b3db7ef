// Durations, in one grammar for the config, the command line and plugin options: a whole
// number and one unit, ms s m h d w ("250ms", "90s", "15m", "12h", "30d", "2w"). A number
// without a unit is refused: seconds in one place and days in another is how mistakes happen.
#pragma once

#include <chrono>
#include <string_view>

#include "base/error.h"

namespace certinbox::base {

// At most 100 years. bad_duration, with a sentence showing the accepted forms, for anything
// else (empty, no number, no unit, an unknown unit, a sign, a fraction, spaces, too long).
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// ParseDuration in whole seconds, for settings that count seconds: "1500ms" is refused
// (bad_duration), "2000ms" is 2.
Result<int64_t> ParseDurationSeconds(std::string_view text);

}  // namespace certinbox::base
