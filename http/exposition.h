// The Prometheus text exposition format, version 0.0.4: metric families (HELP and TYPE once,
// then their samples) with label values escaped as the format says.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace certinbox::http {

// The Content-Type of the format.
inline constexpr char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";

using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

// `value` escaped for a label value: backslash, double quote and line feed as \\, \" and \n.
// Bytes that are not UTF-8 become U+FFFD (a certificate's names are a stranger's bytes).
std::string EscapeLabelValue(std::string_view value);

// Appends to one string. Families must be written whole, one after the other (the format does
// not allow a family's samples to be split); names and label names are the caller's constants.
class Exposition {
 public:
  // Starts a family: "# HELP name help" and "# TYPE name type" (gauge, counter, ...).
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const Labels& labels, double value);
  void Sample(std::string_view name, const Labels& labels, int64_t value);

  const std::string& text() const { return text_; }
  std::string Take() { return std::move(text_); }

 private:
  void Head(std::string_view name, const Labels& labels);
  std::string text_;
};

}  // namespace certinbox::http
