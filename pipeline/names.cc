#include "pipeline/names.h"

#include <string>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/text.h"

namespace certinbox::pipeline {
namespace {

std::string_view WhatOf(NameKind kind) {
  switch (kind) {
    case NameKind::kEntryName:
      return "a name";
    case NameKind::kGroup:
      return "a group";
    case NameKind::kLabel:
      return "a label";
    case NameKind::kResource:
      return "a resource name";
  }
  return "a name";
}

}  // namespace

base::Result<void> CheckName(std::string_view text, NameKind kind) {
  const char* code = kind == NameKind::kResource ? base::code::kBadResource : base::code::kBadName;
  const std::string what(WhatOf(kind));
  const std::string shown = "\"" + base::Shorten(base::Escape(text), 64) + "\"";
  if (text.empty() || text.size() > kMaxNameBytes) {
    return base::Fail(code, what + " must be 1 to " + std::to_string(kMaxNameBytes) +
                                " bytes long (this one has " + std::to_string(text.size()) + ")");
  }
  if (!base::IsPrintableUtf8(text)) {
    return base::Fail(code, what + " must be UTF-8 without control characters: " + shown);
  }
  if (text == "." || text == "..") return base::Fail(code, what + " cannot be " + shown);
  if ((kind == NameKind::kEntryName || kind == NameKind::kGroup) &&
      text.find('/') != std::string_view::npos) {
    return base::Fail(code, what + " must not hold \"/\" (GROUP/NAME names an entry): " + shown);
  }
  return {};
}

}  // namespace certinbox::pipeline
