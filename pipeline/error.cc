#include "pipeline/error.h"

#include <openssl/err.h>

#include "base/text.h"

namespace certinbox::pipeline {
namespace {

// An error's data can quote the input (an OID, a field's text): each is cut and escaped, and
// the whole sentence part too (the queue holds up to 16 errors).
constexpr size_t kMaxDataEcho = 128;
constexpr size_t kMaxErrorsEcho = 1024;

}  // namespace

std::string DrainOpensslErrors() {
  std::string out;
  const char* file = nullptr;
  const char* func = nullptr;
  const char* data = nullptr;
  int line = 0;
  int flags = 0;
  unsigned long code;
  while ((code = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    if (!out.empty()) out += "; ";
    out += text;
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && *data != '\0') {
      out += " (";
      out += base::Escape(base::Shorten(data, kMaxDataEcho));
      out += ")";
    }
  }
  return base::Shorten(std::move(out), kMaxErrorsEcho);
}

}  // namespace certinbox::pipeline
