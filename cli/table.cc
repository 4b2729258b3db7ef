#include "cli/table.h"

#include <algorithm>
#include <cctype>
#include <iterator>

#include "base/text.h"

namespace certinbox::cli {

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  // Cells come from the inventory, which strangers named: no cell may drive the terminal or
  // start a new row.
  for (std::string& cell : cells) cell = base::Escape(cell);
  cells.resize(std::max(cells.size(), headers_.size()));
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> widths;
  return Render(widths, true);
}

std::string Table::Render(std::vector<size_t>& widths, bool header) const {
  size_t columns = std::max(widths.size(), headers_.size());
  for (const auto& row : rows_) columns = std::max(columns, row.size());
  widths.resize(columns, 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  };
  measure(headers_);
  for (const auto& row : rows_) measure(row);

  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "  ";
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - DisplayWidth(row[i]), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();  // empty trailing cells
    out += line;
    out += '\n';
  };
  if (header) emit(headers_);
  for (const auto& row : rows_) emit(row);
  return out;
}

size_t DisplayWidth(std::string_view text) {
  // UTF-8 continuation bytes are 10xxxxxx; every other byte starts a code point.
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string ShortHex(std::string_view hex, size_t n) {
  std::string out;
  for (char c : hex) {
    if (c == ':') continue;
    if (out.size() == n) break;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out.empty() ? "-" : out;
}

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

std::string FormatSpan(int64_t seconds) {
  static constexpr int64_t kUnits[] = {86400, 3600, 60, 1};
  static constexpr const char* kSuffixes[] = {"d", "h", "m", "s"};
  if (seconds <= 0) return "0s";
  size_t largest = 0;
  while (seconds < kUnits[largest]) ++largest;
  std::string out = std::to_string(seconds / kUnits[largest]) + kSuffixes[largest];
  if (largest + 1 < std::size(kUnits)) {
    int64_t next = seconds % kUnits[largest] / kUnits[largest + 1];
    if (next > 0) out += " " + std::to_string(next) + kSuffixes[largest + 1];
  }
  return out;
}

}  // namespace certinbox::cli
