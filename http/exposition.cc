#include "http/exposition.h"

#include <algorithm>
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

std::string RenderLabels(const Labels& labels) {
  std::string out;
  if (labels.empty()) return out;
  out += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out.append(labels[i].first).append("=\"").append(EscapeLabelValue(labels[i].second));
    out += '"';
  }
  out += '}';
  return out;
}

void AppendSample(std::string& out, std::string_view name, std::string_view rendered_labels,
                  int64_t value) {
  out.append(name).append(rendered_labels) += ' ';
  char buffer[24];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, end) += '\n';
}

void Exposition::Sample(std::string_view name, const Labels& labels, int64_t value) {
  AppendSample(text_, name, RenderLabels(labels), value);
}

void Exposition::Sample(std::string_view name, const Labels& labels, double value) {
  text_.append(name).append(RenderLabels(labels)) += ' ';
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

void Histogram::Observe(double value) {
  auto bound = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  ++counts_[static_cast<size_t>(bound - bounds_.begin())];
  sum_ += value;
  ++count_;
}

std::vector<int64_t> Histogram::Cumulative() const {
  std::vector<int64_t> out(counts_.size());
  int64_t total = 0;
  for (size_t i = 0; i < counts_.size(); ++i) out[i] = total += counts_[i];
  return out;
}

void Exposition::WriteHistogram(std::string_view name, std::string_view help,
                                const Histogram& histogram) {
  Family(name, "histogram", help);
  const std::string bucket = std::string(name) + "_bucket";
  const std::vector<int64_t> cumulative = histogram.Cumulative();
  for (size_t i = 0; i < cumulative.size(); ++i) {
    std::string le = "+Inf";
    if (i < histogram.bounds().size()) {
      char buffer[32];
      auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, histogram.bounds()[i]);
      le.assign(buffer, end);
    }
    Sample(bucket, {{"le", le}}, cumulative[i]);
  }
  Sample(std::string(name) + "_sum", {}, histogram.sum());
  Sample(std::string(name) + "_count", {}, histogram.count());
}

}  // namespace certinbox::http
