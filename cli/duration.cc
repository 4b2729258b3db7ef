#include "cli/duration.h"

#include "base/duration.h"

namespace certinbox::cli {

base::Result<int64_t> ParseDuration(std::string_view text) {
  return base::ParseDurationSeconds(text);
}

}  // namespace certinbox::cli
