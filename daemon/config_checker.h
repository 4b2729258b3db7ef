// Reading one config file's TOML values by type, with every problem collected and its position
// kept ("FILE:LINE:COLUMN: what"), so that an operator fixes them all in one pass. A reader that
// finds a problem records it and returns std::nullopt (or null); a missing key is std::nullopt
// with no problem. Used by LoadConfig and its section readers (config.cc, config_plugins.cc).
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace certinbox::daemon {

class ConfigChecker {
 public:
  // `file`: the main config file, named by problems whose node has no file of its own and the
  // folder relative paths are read from.
  explicit ConfigChecker(std::filesystem::path file) : file_(std::move(file)) {}

  void Problem(const toml::source_region& where, const std::string& what);

  // Unknown keys are errors, not silence: a key of `table` not in `allowed` is a problem.
  void OnlyKeys(const toml::table& table, std::string_view section,
                std::initializer_list<std::string_view> allowed);

  const toml::table* Table(const toml::table& parent, std::string_view key);
  // A non-empty string.
  std::optional<std::string> String(const toml::table& table, std::string_view key);
  std::optional<bool> Bool(const toml::table& table, std::string_view key);
  std::optional<int64_t> Integer(const toml::table& table, std::string_view key, int64_t min,
                                 int64_t max);
  // A duration: "90s", "15m", "1h", "7d", "2w", or a whole number of seconds; in seconds.
  std::optional<uint64_t> Duration(const toml::table& table, std::string_view key, uint64_t min_s);
  std::optional<std::vector<std::string>> Strings(const toml::table& table, std::string_view key);

  // `text` as a path, relative to the main file's folder unless absolute.
  std::filesystem::path Path(const std::string& text) const;

  bool ok() const { return problems_.empty(); }
  // Every problem, one a line.
  std::string Report() const;

 private:
  std::filesystem::path file_;
  std::vector<std::string> problems_;
};

}  // namespace certinbox::daemon
