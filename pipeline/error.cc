#include "pipeline/error.h"

#include <openssl/err.h>

namespace certinbox::pipeline {

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
      out += data;
      out += ")";
    }
  }
  return out;
}

}  // namespace certinbox::pipeline
