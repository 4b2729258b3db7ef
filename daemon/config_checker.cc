#include "daemon/config_checker.h"

#include <algorithm>
#include <sstream>

#include "base/duration.h"
#include "daemon/config.h"

namespace certinbox::daemon {

void ConfigChecker::Problem(const toml::source_region& where, const std::string& what) {
  std::ostringstream line;
  // A conf.d fragment's nodes carry their own file.
  line << (where.path ? *where.path : file_.string()) << ":" << where.begin.line << ":"
       << where.begin.column << ": " << what;
  problems_.push_back(line.str());
}

void ConfigChecker::OnlyKeys(const toml::table& table, std::string_view section,
                             std::initializer_list<std::string_view> allowed) {
  for (auto&& [key, node] : table) {
    if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
      std::string known;
      for (auto name : allowed) known += (known.empty() ? "" : ", ") + std::string(name);
      Problem(key.source(), "unknown key '" + std::string(key.str()) + "' in " +
                                std::string(section) + " (known keys: " + known + ")");
    }
  }
}

const toml::table* ConfigChecker::Table(const toml::table& parent, std::string_view key) {
  const toml::node* node = parent.get(key);
  if (!node) return nullptr;
  if (const auto* table = node->as_table()) return table;
  Problem(node->source(),
          "'" + std::string(key) + "' must be a table ([" + std::string(key) + "])");
  return nullptr;
}

std::optional<std::string> ConfigChecker::String(const toml::table& table, std::string_view key) {
  const toml::node* node = table.get(key);
  if (!node) return std::nullopt;
  if (const auto* value = node->as_string()) {
    if (value->get().empty()) {
      Problem(node->source(), "'" + std::string(key) + "' must not be empty");
      return std::nullopt;
    }
    return value->get();
  }
  Problem(node->source(), "'" + std::string(key) + "' must be a string");
  return std::nullopt;
}

std::optional<bool> ConfigChecker::Bool(const toml::table& table, std::string_view key) {
  const toml::node* node = table.get(key);
  if (!node) return std::nullopt;
  if (const auto* value = node->as_boolean()) return value->get();
  Problem(node->source(), "'" + std::string(key) + "' must be true or false");
  return std::nullopt;
}

std::optional<int64_t> ConfigChecker::Integer(const toml::table& table, std::string_view key,
                                              int64_t min, int64_t max) {
  const toml::node* node = table.get(key);
  if (!node) return std::nullopt;
  const auto* value = node->as_integer();
  if (!value) {
    Problem(node->source(), "'" + std::string(key) + "' must be a whole number");
    return std::nullopt;
  }
  if (value->get() < min || value->get() > max) {
    Problem(node->source(), "'" + std::string(key) + "' must be between " + std::to_string(min) +
                                " and " + std::to_string(max));
    return std::nullopt;
  }
  return value->get();
}

std::optional<uint64_t> ConfigChecker::Duration(const toml::table& table, std::string_view key,
                                                uint64_t min_s) {
  const toml::node* node = table.get(key);
  if (!node) return std::nullopt;
  std::optional<uint64_t> seconds;
  std::string why = "must be a duration such as \"90s\", \"15m\", \"1h\" or \"7d\"";
  if (const auto* value = node->as_integer()) {
    // A TOML integer is seconds, as older configs wrote durations.
    if (value->get() >= 0) seconds = static_cast<uint64_t>(value->get());
  } else if (const auto* text = node->as_string()) {
    auto parsed = base::ParseDurationSeconds(text->get());
    if (parsed) {
      seconds = static_cast<uint64_t>(*parsed);
    } else {
      why = "is not a duration: " + parsed.error().message;
    }
  }
  if (!seconds) {
    Problem(node->source(), "'" + std::string(key) + "' " + why);
    return std::nullopt;
  }
  if (*seconds < min_s) {
    Problem(node->source(),
            "'" + std::string(key) + "' must be at least " + std::to_string(min_s) + " seconds");
    return std::nullopt;
  }
  return seconds;
}

std::optional<std::vector<std::string>> ConfigChecker::Strings(const toml::table& table,
                                                               std::string_view key) {
  const toml::node* node = table.get(key);
  if (!node) return std::nullopt;
  const auto* array = node->as_array();
  std::vector<std::string> out;
  if (array) {
    for (const auto& element : *array) {
      if (const auto* text = element.as_string()) {
        out.push_back(text->get());
      } else {
        array = nullptr;
        break;
      }
    }
  }
  if (!array) {
    Problem(node->source(), "'" + std::string(key) + "' must be an array of strings");
    return std::nullopt;
  }
  return out;
}

std::filesystem::path ConfigChecker::Path(const std::string& text) const {
  std::filesystem::path path(text);
  if (path.is_relative()) path = file_.parent_path() / path;
  return path.lexically_normal();
}

std::string ConfigChecker::Report() const {
  std::string out;
  for (const auto& line : problems_) out += (out.empty() ? "" : "\n") + line;
  return out;
}

}  // namespace certinbox::daemon
