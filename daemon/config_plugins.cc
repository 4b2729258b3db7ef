#include "daemon/config_plugins.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error_codes.h"
#include "base/text.h"

namespace certinbox::daemon {

namespace {

using group_t = struct group;  // `group` is also a local name below

// [plugin.options] as JSON: strings, numbers, booleans, arrays and tables as themselves; dates
// and times as their TOML text.
nlohmann::json TomlToJson(const toml::node& node) {
  if (const auto* table = node.as_table()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto&& [key, value] : *table) out[std::string(key.str())] = TomlToJson(value);
    return out;
  }
  if (const auto* array = node.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& element : *array) out.push_back(TomlToJson(element));
    return out;
  }
  if (const auto* v = node.as_string()) return v->get();
  if (const auto* v = node.as_integer()) return v->get();
  if (const auto* v = node.as_floating_point()) return v->get();
  if (const auto* v = node.as_boolean()) return v->get();
  std::ostringstream text;
  if (const auto* v = node.as_date()) text << v->get();
  if (const auto* v = node.as_time()) text << v->get();
  if (const auto* v = node.as_date_time()) text << v->get();
  return text.str();
}

bool PluginNameOk(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

bool EnvNameOk(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// `user` and `group` of a [[plugin]], looked up now: the supervisor's child drops to the ids
// between fork and exec, where a name lookup is not safe. False after a problem.
bool ReadPluginUser(ConfigChecker& check, const toml::table& table, PluginConfig& plugin) {
  auto user = check.String(table, "user");
  auto group = check.String(table, "group");
  if (!user) {
    if (table.get("user")) return false;
    if (table.get("group")) {
      check.Problem(table.get("group")->source(),
                    "'group' needs a 'user': a plugin without one runs as the daemon's user");
      return false;
    }
    return true;
  }
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(user->c_str(), &pw, buffer.data(), buffer.size(), &found) != 0 || !found) {
    check.Problem(table.get("user")->source(), "'user': no such user '" + *user + "'");
    return false;
  }
  plugin.user = *user;
  plugin.uid = found->pw_uid;
  plugin.gid = found->pw_gid;
  if (group) {
    group_t gr{};
    group_t* found_group = nullptr;
    if (::getgrnam_r(group->c_str(), &gr, buffer.data(), buffer.size(), &found_group) != 0 ||
        !found_group) {
      check.Problem(table.get("group")->source(), "'group': no such group '" + *group + "'");
      return false;
    }
    plugin.gid = found_group->gr_gid;
    plugin.group = *group;
  } else if (table.get("group")) {
    return false;
  }
  return true;
}

}  // namespace

std::set<std::string> ReadPlugins(ConfigChecker& check, const toml::table& root, Config& config) {
  std::set<std::string> written;
  const toml::node* node = root.get("plugin");
  if (!node) return written;
  const auto* array = node->as_array();
  if (!array || !array->is_array_of_tables()) {
    check.Problem(node->source(), "'plugin' must be an array of tables: write [[plugin]]");
    return written;
  }
  std::set<std::string> names;
  for (const auto& element : *array) {
    const auto& table = *element.as_table();
    check.OnlyKeys(table, "[[plugin]]",
                   {"name", "command", "args", "env", "events", "enabled", "ack_timeout", "options",
                    "user", "group"});
    PluginConfig plugin;
    bool good = true;
    auto name = check.String(table, "name");
    if (!table.get("name")) check.Problem(table.source(), "[[plugin]] needs a 'name'");
    if (name) {
      written.insert(*name);
      if (!PluginNameOk(*name)) {
        check.Problem(table.get("name")->source(),
                      "'name' must be 1 to 64 letters, digits, '-' or '_': '" + *name + "'");
        good = false;
      } else if (!names.insert(*name).second) {
        check.Problem(table.get("name")->source(),
                      "two plugins are named '" + *name + "': plugin names are unique");
        good = false;
      }
    }
    auto command = check.String(table, "command");
    if (!table.get("command")) check.Problem(table.source(), "[[plugin]] needs a 'command'");
    if (command) {
      // A path is relative to the config's folder; a bare name is looked up when it starts.
      plugin.command =
          command->find('/') == std::string::npos ? *command : check.Path(*command).string();
    }
    if (auto v = check.Strings(table, "args")) plugin.args = *v;
    if (const toml::node* env = table.get("env")) {
      if (const auto* vars = env->as_table()) {
        for (auto&& [key, value] : *vars) {
          std::string var(key.str());
          if (!EnvNameOk(var)) {
            check.Problem(key.source(),
                          "'env': '" + var + "' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)");
            good = false;
          } else if (const auto* text = value.as_string()) {
            plugin.env.emplace_back(var, text->get());
          } else {
            check.Problem(value.source(), "'env." + var + "' must be a string");
            good = false;
          }
        }
      } else {
        check.Problem(env->source(),
                      "'env' must be a table of strings, e.g. { LANG = \"C.UTF-8\" }");
        good = false;
      }
    }
    if (auto v = check.Strings(table, "events")) plugin.events = *v;
    if (auto v = check.Bool(table, "enabled")) plugin.enabled = *v;
    if (auto v = check.Duration(table, "ack_timeout", 0)) plugin.ack_timeout_s = *v;
    if (const toml::node* options = table.get("options")) {
      if (options->as_table()) {
        plugin.options_json = TomlToJson(*options).dump();
      } else {
        check.Problem(options->source(), "'options' must be a table ([plugin.options])");
        good = false;
      }
    }
    good = ReadPluginUser(check, table, plugin) && good;
    if (!name || !command || !good) continue;
    plugin.name = *name;
    config.plugins.push_back(std::move(plugin));
  }
  return written;
}

void CheckClientRoles(ConfigChecker& check, const toml::table& root, const Config& config,
                      const std::set<std::string>& plugin_names) {
  const toml::node* clients = root.at_path("bus.client").node();
  const toml::array* array = clients ? clients->as_array() : nullptr;
  if (!array) return;
  for (const auto& element : *array) {
    const toml::table* table = element.as_table();
    const toml::node* role = table ? table->get("role") : nullptr;
    const auto* text = role ? role->as_string() : nullptr;
    if (!text || !text->get().starts_with("plugin:")) continue;
    std::string plugin = text->get().substr(7);
    if (!plugin_names.contains(plugin)) {
      check.Problem(role->source(), "'role' names no [[plugin]]: '" + plugin + "'");
    }
  }
}

base::Result<const PluginConfig*> FindPlugin(const Config& config, const std::string& name) {
  auto plugin = std::find_if(config.plugins.begin(), config.plugins.end(),
                             [&](const PluginConfig& p) { return p.name == name; });
  if (plugin != config.plugins.end()) return &*plugin;
  std::string known;
  for (const PluginConfig& p : config.plugins) known += (known.empty() ? "" : ", ") + p.name;
  return base::Fail(base::code::kUnknownPlugin,
                    "no [[plugin]] named '" + base::Shorten(name) +
                        "' is configured (configured: " + (known.empty() ? "none" : known) + ")");
}

}  // namespace certinbox::daemon
