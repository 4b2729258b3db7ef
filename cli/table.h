// Plain-text tables and small text helpers for output meant for people.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace certinbox::cli {

// Columns left-aligned, two spaces apart, headers in the first line. Every cell is written
// through base::Escape (control characters, invalid UTF-8 and backslashes spelled out). The
// last column is not padded, so no line ends in spaces. Rows shorter than the header get empty
// cells.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  // Every line ends in '\n'.
  std::string Render() const;
  // The same, each column at least as wide as `widths` says (a missing one: 0), and the header
  // line only when `header`; leaves the widths used in `widths`. Successive calls with the same
  // `widths` print one table in parts (a part's wider cell widens the columns from there on).
  std::string Render(std::vector<size_t>& widths, bool header) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Width in terminal columns, counting each UTF-8 code point as one.
size_t DisplayWidth(std::string_view text);

// The first `n` hex digits of a fingerprint, without ':' separators, lowercase; "-" if empty.
std::string ShortHex(std::string_view hex, size_t n = 16);

std::string Join(const std::vector<std::string>& parts, std::string_view separator);

// "42s", "5m 3s", "4h 12m", "3d 4h" (two largest units).
std::string FormatSpan(int64_t seconds);

}  // namespace certinbox::cli
