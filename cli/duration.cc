#include "cli/duration.h"

#include <cctype>

#include "base/error_codes.h"

namespace certinbox::cli {
namespace {

constexpr int64_t kMaxSeconds = int64_t{100} * 366 * 86400;

base::Result<int64_t> Refuse(std::string_view text, std::string_view why) {
  return base::Fail(base::code::kBadDuration,
                    "'" + std::string(text) + "' is not a duration (" + std::string(why) +
                        "): use a whole number and a unit, e.g. 90s, 15m, 12h, 30d, 8w");
}

}  // namespace

base::Result<int64_t> ParseDuration(std::string_view text) {
  if (text.empty()) return Refuse(text, "empty");
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return Refuse(text, "it does not start with a number");
  if (digits == text.size()) return Refuse(text, "no unit");
  if (digits + 1 != text.size()) return Refuse(text, "one unit letter after the number");
  int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      return Refuse(text, "unknown unit");
  }
  int64_t value = 0;
  for (size_t i = 0; i < digits; ++i) {
    value = value * 10 + (text[i] - '0');
    if (value > kMaxSeconds) return Refuse(text, "more than 100 years");
  }
  if (value * unit > kMaxSeconds) return Refuse(text, "more than 100 years");
  return value * unit;
}

}  // namespace certinbox::cli
