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

// `labels` as the format writes them after a name, {a="x",b="y"} with the values escaped; ""
// when there are none. A series' labels rendered once serve each family that repeats them.
std::string RenderLabels(const Labels& labels);

// Appends one sample line, "name{labels} value", with labels from RenderLabels.
void AppendSample(std::string& out, std::string_view name, std::string_view rendered_labels,
                  int64_t value);

// A histogram kept in memory: observations counted per upper bound, with their sum.
class Histogram {
 public:
  // `bounds` ascending; +Inf is implied.
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void Observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // Observations at or below each bound (cumulative, as the format writes them), +Inf last.
  std::vector<int64_t> Cumulative() const;
  double sum() const { return sum_; }
  int64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bound, not cumulative; +Inf last
  double sum_ = 0;
  int64_t count_ = 0;
};

// Appends to one string. Families must be written whole, one after the other (the format does
// not allow a family's samples to be split); names and label names are the caller's constants.
class Exposition {
 public:
  // Starts a family: "# HELP name help" and "# TYPE name type" (gauge, counter, ...).
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const Labels& labels, double value);
  void Sample(std::string_view name, const Labels& labels, int64_t value);
  // A whole histogram family: its _bucket series (le="..." and le="+Inf"), _sum and _count.
  void WriteHistogram(std::string_view name, std::string_view help, const Histogram& histogram);

  const std::string& text() const { return text_; }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace certinbox::http
