#include "http/exposition.h"

#include <charconv>
#include <cmath>

#include "base/text.h"

namespace certinbox::http {

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  while (!value.empty()) {
    const char c = value[0];
    size_t len = base::Utf8SequenceLength(value);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      len = 1;
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.append(value.substr(0, len));
    }
    value.remove_prefix(len);
  }
  return out;
}

void Exposition::Family(std::string_view name, std::string_view type, std::string_view help) {
  text_.append("# HELP ").append(name).append(" ");
  // HELP text escapes only backslash and line feed.
  for (char c : help) {
    if (c == '\\') {
      text_ += "\\\\";
    } else if (c == '\n') {
      text_ += "\\n";
    } else {
      text_ += c;
    }
  }
  text_.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

void Exposition::Head(std::string_view name, const Labels& labels) {
  text_.append(name);
  if (!labels.empty()) {
    text_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) text_ += ',';
      text_.append(labels[i].first).append("=\"").append(EscapeLabelValue(labels[i].second));
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
}

void Exposition::Sample(std::string_view name, const Labels& labels, int64_t value) {
  Head(name, labels);
  char buffer[24];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  text_.append(buffer, end).append("\n");
}

void Exposition::Sample(std::string_view name, const Labels& labels, double value) {
  Head(name, labels);
  if (std::isnan(value)) {
    text_ += "NaN";
  } else if (std::isinf(value)) {
    text_ += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buffer[32];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    text_.append(buffer, end);
  }
  text_ += '\n';
}

}  // namespace certinbox::http
