#include "cli/duration.h"

#include "base/duration.h"
#include "base/error_codes.h"

namespace certinbox::cli {

base::Result<int64_t> ParseDuration(std::string_view text) {
  auto parsed = base::ParseDuration(text);
  if (!parsed) return std::unexpected(parsed.error());
  if (parsed->count() % 1000 != 0) {
    return base::Fail(base::code::kBadDuration,
                      "'" + std::string(text) + "' is not whole seconds: use s, m, h, d or w");
  }
  return parsed->count() / 1000;
}

}  // namespace certinbox::cli
