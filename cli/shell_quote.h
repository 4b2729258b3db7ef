// Quoting for a POSIX shell (`certinbox plugin env` prints export lines to eval).
#pragma once

#include <string>

namespace certinbox::cli {

// `value` in single quotes, a quote inside written '\'': safe to eval whatever it holds.
std::string ShellQuote(const std::string& value);

}  // namespace certinbox::cli
