#include "daemon/config_fragments.h"

#include <algorithm>

#include "daemon/config.h"

namespace certinbox::daemon {

namespace fs = std::filesystem;

namespace {

// Where a node was written, for "already set in FILE:LINE".
std::string Where(const toml::source_region& where, const fs::path& fallback) {
  return (where.path ? *where.path : fallback.string()) + ":" + std::to_string(where.begin.line);
}

}  // namespace

void MergeConfigFragment(ConfigChecker& check, toml::table& root, toml::table& fragment,
                         const fs::path& main_file) {
  for (auto&& [key, node] : fragment) {
    toml::node* existing = root.get(key);
    if (!existing) {
      root.insert(key, std::move(node));
      continue;
    }
    toml::table* have_table = existing->as_table();
    toml::table* add_table = node.as_table();
    toml::array* have_array = existing->as_array();
    toml::array* add_array = node.as_array();
    if (have_table && add_table) {
      for (auto&& [inner_key, inner] : *add_table) {
        toml::array* have_inner = have_table->get_as<toml::array>(inner_key);
        toml::array* add_inner = inner.as_array();
        if (have_inner && add_inner && have_inner->is_array_of_tables() &&
            add_inner->is_array_of_tables()) {
          // [[bus.client]] in several files: each fragment adds its clients.
          for (auto& element : *add_inner) have_inner->push_back(std::move(*element.as_table()));
          continue;
        }
        if (const toml::node* set = have_table->get(inner_key)) {
          check.Problem(inner_key.source(),
                        "'" + std::string(key.str()) + "." + std::string(inner_key.str()) +
                            "' is already set in " + Where(set->source(), main_file));
          continue;
        }
        have_table->insert(inner_key, std::move(inner));
      }
    } else if (have_array && add_array && have_array->is_array_of_tables() &&
               add_array->is_array_of_tables()) {
      for (auto& element : *add_array) have_array->push_back(std::move(*element.as_table()));
    } else {
      check.Problem(key.source(), "'" + std::string(key.str()) + "' is already set in " +
                                      Where(existing->source(), main_file));
    }
  }
}

// conf.d/*.toml beside the main file, in name order; hidden files and others are ignored.
std::vector<fs::path> ConfigFragments(const fs::path& file) {
  const fs::path main_file = fs::absolute(file).lexically_normal();
  std::vector<fs::path> out;
  std::error_code ec;
  fs::path dir = main_file.parent_path() / "conf.d";
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with('.') || !name.ends_with(".toml")) continue;
    if (!entry.is_regular_file(ec)) continue;
    out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace certinbox::daemon
