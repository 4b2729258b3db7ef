#include "base/duration.h"

#include <charconv>
#include <cstdint>
#include <string>

#include "base/error_codes.h"
#include "base/text.h"

namespace certinbox::base {
namespace {

constexpr int64_t kMaxMs = int64_t{100} * 366 * 86'400'000;

Result<std::chrono::milliseconds> Refuse(std::string_view text, std::string_view why) {
  return Fail(code::kBadDuration,
              "'" + Shorten(Escape(text), 64) + "' is not a duration (" + std::string(why) +
                  "): write a whole number and a unit: 250ms, 90s, 15m, 12h, 30d or 2w");
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return Refuse(text, "it is empty");
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end == text.data() || value < 0) return Refuse(text, "it does not start with a number");
  if (ec != std::errc()) return Refuse(text, "more than 100 years");
  const std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else if (unit == "d") {
    scale = 86'400'000;
  } else if (unit == "w") {
    scale = 7 * 86'400'000LL;
  } else if (unit.empty()) {
    return Refuse(text, "no unit");
  } else {
    return Refuse(text, "unknown unit '" + Shorten(Escape(unit), 16) + "'");
  }
  if (value > kMaxMs / scale) return Refuse(text, "more than 100 years");
  return std::chrono::milliseconds(value * scale);
}

Result<int64_t> ParseDurationSeconds(std::string_view text) {
  auto parsed = ParseDuration(text);
  if (!parsed) return std::unexpected(parsed.error());
  if (parsed->count() % 1000 != 0) {
    return Fail(code::kBadDuration, "'" + Shorten(Escape(text), 64) +
                                        "' is not whole seconds: write it with s, m, h, d or w");
  }
  return parsed->count() / 1000;
}

}  // namespace certinbox::base
