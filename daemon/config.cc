#include "base/error.h"
#include "base/error_codes.h"
#include "daemon/config.h"

#include <grp.h>
#include <pwd.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "plugins/sdk/client.h"
#include "storage/inventory.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;
using group_t = struct group;  // `group` is also a local name below

// Collects every problem of one file with its position, so an operator fixes them in one pass.
class Checker {
 public:
  explicit Checker(fs::path file) : file_(std::move(file)) {}

  void Problem(const toml::source_region& where, const std::string& what) {
    std::ostringstream line;
    // A conf.d fragment's nodes carry their own file.
    line << (where.path ? *where.path : file_.string()) << ":" << where.begin.line << ":"
         << where.begin.column << ": " << what;
    problems_.push_back(line.str());
  }

  // Unknown keys are errors, not silence.
  void OnlyKeys(const toml::table& table, std::string_view section,
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

  const toml::table* Table(const toml::table& parent, std::string_view key) {
    const toml::node* node = parent.get(key);
    if (!node) return nullptr;
    if (const auto* table = node->as_table()) return table;
    Problem(node->source(),
            "'" + std::string(key) + "' must be a table ([" + std::string(key) + "])");
    return nullptr;
  }

  std::optional<std::string> String(const toml::table& table, std::string_view key) {
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

  std::optional<bool> Bool(const toml::table& table, std::string_view key) {
    const toml::node* node = table.get(key);
    if (!node) return std::nullopt;
    if (const auto* value = node->as_boolean()) return value->get();
    Problem(node->source(), "'" + std::string(key) + "' must be true or false");
    return std::nullopt;
  }

  std::optional<int64_t> Integer(const toml::table& table, std::string_view key, int64_t min,
                                 int64_t max) {
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

  // A duration: "90s", "15m", "1h", "7d", "2w", or a whole number of seconds.
  std::optional<uint64_t> Duration(const toml::table& table, std::string_view key, uint64_t min_s) {
    const toml::node* node = table.get(key);
    if (!node) return std::nullopt;
    std::optional<uint64_t> seconds;
    if (const auto* value = node->as_integer()) {
      if (value->get() >= 0) seconds = static_cast<uint64_t>(value->get());
    } else if (const auto* text = node->as_string()) {
      seconds = ParseDuration(text->get());
    }
    if (!seconds) {
      Problem(node->source(), "'" + std::string(key) +
                                  "' must be a duration such as \"90s\", \"15m\", \"1h\", \"7d\"");
      return std::nullopt;
    }
    if (*seconds < min_s) {
      Problem(node->source(),
              "'" + std::string(key) + "' must be at least " + std::to_string(min_s) + " seconds");
      return std::nullopt;
    }
    return seconds;
  }

  std::optional<std::vector<std::string>> Strings(const toml::table& table, std::string_view key) {
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

  fs::path Path(const std::string& text) const {
    fs::path path(text);
    if (path.is_relative()) path = file_.parent_path() / path;
    return path.lexically_normal();
  }

  bool ok() const { return problems_.empty(); }
  std::string Report() const {
    std::string out;
    for (const auto& line : problems_) out += (out.empty() ? "" : "\n") + line;
    return out;
  }

 private:
  fs::path file_;
  std::vector<std::string> problems_;
};

void ReadDaemon(Checker& check, const toml::table& root, Config& config) {
  const toml::table* daemon = check.Table(root, "daemon");
  if (!daemon) return;
  check.OnlyKeys(*daemon, "[daemon]",
                 {"state_dir", "log_level", "database", "master_key_file", "system_trust",
                  "max_versions", "dumpable"});
  if (auto v = check.String(*daemon, "state_dir")) config.state_dir = check.Path(*v);
  if (auto v = check.String(*daemon, "log_level")) {
    static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
    if (kLevels.contains(*v)) {
      config.log_level = *v;
    } else {
      check.Problem(daemon->get("log_level")->source(),
                    "'log_level' must be one of trace, debug, info, warn, error, off");
    }
  }
  if (auto v = check.String(*daemon, "database")) config.database = check.Path(*v);
  if (auto v = check.String(*daemon, "master_key_file")) config.master_key_file = check.Path(*v);
  if (auto v = check.Bool(*daemon, "system_trust")) config.system_trust = *v;
  if (auto v = check.Bool(*daemon, "dumpable")) config.dumpable = *v;
  if (auto v = check.Integer(*daemon, "max_versions", 1, 100'000)) {
    config.max_versions = static_cast<int>(*v);
  }
}

bool ClientNameOk(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '@';
  });
}

// [[bus.client]]; a role "plugin:NAME" is checked against the [[plugin]]s by CheckClientRoles.
void ReadBusClients(Checker& check, const toml::table& bus, Config& config) {
  const toml::node* node = bus.get("client");
  if (!node) return;
  const auto* array = node->as_array();
  if (!array || !array->is_array_of_tables()) {
    check.Problem(node->source(), "'client' must be an array of tables: write [[bus.client]]");
    return;
  }
  std::set<std::string> names, keys;
  for (const auto& element : *array) {
    const auto& table = *element.as_table();
    check.OnlyKeys(table, "[[bus.client]]", {"name", "public_key", "role"});
    for (const char* required : {"name", "public_key", "role"}) {
      if (!table.get(required)) {
        check.Problem(table.source(), std::string("[[bus.client]] needs a '") + required + "'");
      }
    }
    auto name = check.String(table, "name");
    auto key = check.String(table, "public_key");
    auto role = check.String(table, "role");
    bool good = name && key && role;
    if (name && !ClientNameOk(*name)) {
      check.Problem(table.get("name")->source(),
                    "'name' must be 1 to 64 letters, digits, '-', '_', '.' or '@'");
      good = false;
    } else if (name && !names.insert(*name).second) {
      check.Problem(table.get("name")->source(),
                    "two [[bus.client]]s are named '" + *name + "': names are unique");
      good = false;
    }
    if (key && !sdk::IsCurveKey(*key)) {
      check.Problem(table.get("public_key")->source(),
                    "'public_key' must be a CURVE public key: 40 characters of Z85, as "
                    "`certinbox keygen` prints");
      good = false;
    } else if (key && !keys.insert(*key).second) {
      check.Problem(table.get("public_key")->source(),
                    "this public_key is given to two [[bus.client]]s: one key, one client");
      good = false;
    }
    if (role && *role != "read" && *role != "admin" && *role != "keys" &&
        !role->starts_with("plugin:")) {
      check.Problem(table.get("role")->source(),
                    "'role' must be read, admin, keys or plugin:NAME (a [[plugin]]'s name)");
      good = false;
    }
    if (good) config.clients.push_back({*name, *key, *role});
  }
}

// [bus] ipc_users and ipc_groups, looked up now (names that do not exist are errors).
void ReadIpcFilters(Checker& check, const toml::table& bus, Config& config) {
  std::vector<char> buffer(16384);
  if (auto users = check.Strings(bus, "ipc_users")) {
    for (const std::string& user : *users) {
      passwd pw{};
      passwd* found = nullptr;
      if (::getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found) != 0 || !found) {
        check.Problem(bus.get("ipc_users")->source(), "'ipc_users': no such user '" + user + "'");
        continue;
      }
      config.ipc_users.push_back(user);
      config.ipc_uids.push_back(found->pw_uid);
    }
  }
  if (auto groups = check.Strings(bus, "ipc_groups")) {
    for (const std::string& name : *groups) {
      group_t gr{};
      group_t* found = nullptr;
      if (::getgrnam_r(name.c_str(), &gr, buffer.data(), buffer.size(), &found) != 0 || !found) {
        check.Problem(bus.get("ipc_groups")->source(),
                      "'ipc_groups': no such group '" + name + "'");
        continue;
      }
      config.ipc_groups.push_back(name);
      config.ipc_gids.push_back(found->gr_gid);
    }
  }
}

void ReadBus(Checker& check, const toml::table& root, Config& config) {
  const toml::table* bus = check.Table(root, "bus");
  if (!bus) return;
  check.OnlyKeys(*bus, "[bus]",
                 {"publish", "control", "publish_hwm", "event_retention", "allow_key_export",
                  "client", "ipc_users", "ipc_groups"});
  auto endpoint = [&](std::string_view key) -> std::optional<std::string> {
    auto v = check.String(*bus, key);
    if (!v) return std::nullopt;
    if (v->starts_with("ipc://")) {
      std::string path = v->substr(6);
      if (path.starts_with('@')) {
        // No file, so no file mode: any local user could connect.
        check.Problem(bus->get(key)->source(),
                      "abstract ipc sockets (ipc://@NAME) cannot be restricted to the daemon's "
                      "user: use a path, e.g. ipc:///run/certinbox/" +
                          std::string(key) + ".sock");
        return std::nullopt;
      }
      // Relative paths are relative to the config's folder.
      if (!path.empty() && path[0] != '/') path = check.Path(path).string();
      return "ipc://" + path;
    }
    if (v->starts_with("tcp://")) {
      // Anyone who reaches the port could connect: only with CURVE and an allowlist.
      if (!bus->get("client")) {
        check.Problem(bus->get(key)->source(),
                      "a tcp:// endpoint ('" + std::string(key) +
                          "') needs CURVE: add a [[bus.client]] (name, public_key, role) for "
                          "each client allowed to connect (`certinbox keygen` makes a key "
                          "pair), or use an ipc:// endpoint");
        return std::nullopt;
      }
      if (!zmq_has("curve")) {
        check.Problem(bus->get(key)->source(),
                      "a tcp:// endpoint needs CURVE, which this libzmq was built without: use "
                      "an ipc:// endpoint");
        return std::nullopt;
      }
      return v;
    }
    check.Problem(bus->get(key)->source(),
                  "'" + std::string(key) + "' must be an ipc:// or tcp:// endpoint");
    return std::nullopt;
  };
  if (auto v = endpoint("publish")) config.publish_endpoint = *v;
  if (auto v = endpoint("control")) config.control_endpoint = *v;
  if (auto v = check.Integer(*bus, "publish_hwm", 100, 10'000'000)) {
    config.publish_hwm = static_cast<int>(*v);
  }
  if (auto v = check.Duration(*bus, "event_retention", 0)) config.event_retention_s = *v;
  if (auto v = check.Bool(*bus, "allow_key_export")) config.allow_key_export = *v;
  ReadBusClients(check, *bus, config);
  ReadIpcFilters(check, *bus, config);
}

void ReadExpiry(Checker& check, const toml::table& root, Config& config) {
  const toml::table* expiry = check.Table(root, "expiry");
  if (!expiry) return;
  check.OnlyKeys(*expiry, "[expiry]", {"expiring_soon_days", "notify_days", "scan_interval"});
  if (auto v = check.Integer(*expiry, "expiring_soon_days", 1, 3650)) {
    config.expiring_soon_days = static_cast<int>(*v);
  }
  if (const toml::node* node = expiry->get("notify_days")) {
    const auto* array = node->as_array();
    std::vector<int> days;
    bool good = array != nullptr;
    if (array) {
      for (const auto& element : *array) {
        const auto* n = element.as_integer();
        if (!n || n->get() < 0 || n->get() > 3650) {
          good = false;
          break;
        }
        days.push_back(static_cast<int>(n->get()));
      }
    }
    if (good) {
      std::sort(days.begin(), days.end(), std::greater<>());
      days.erase(std::unique(days.begin(), days.end()), days.end());
      config.notify_days = days;
    } else {
      check.Problem(node->source(),
                    "'notify_days' must be an array of days, e.g. [90, 30, 14, 7, 1]");
    }
  }
  if (auto v = check.Duration(*expiry, "scan_interval", 1)) config.scan_interval_s = *v;
}

// [[inbox]] groups: names by the rule for a group, the inbox's own group among them (a drop
// without a sidecar group is put there).
void ReadInboxGroups(Checker& check, const toml::table& table, InboxConfig& inbox) {
  auto groups = check.Strings(table, "groups");
  if (!groups) return;
  const toml::source_region& where = table.get("groups")->source();
  bool good = true;
  for (const std::string& group : *groups) {
    if (group.empty()) {
      check.Problem(where, "'groups' must not hold an empty string");
      good = false;
    } else if (auto ok = storage::CheckEntryNames(std::nullopt, group, {}); !ok) {
      check.Problem(where, "'groups': " + ok.error().message);
      good = false;
    }
  }
  if (good && std::find(groups->begin(), groups->end(), inbox.group) == groups->end()) {
    check.Problem(where, "'groups' must hold this inbox's own group '" + inbox.group +
                             "': drops without a sidecar group are put there");
    good = false;
  }
  if (good) inbox.groups = std::move(*groups);
}

void ReadInboxes(Checker& check, const toml::table& root, Config& config) {
  const toml::node* node = root.get("inbox");
  if (!node) return;
  const auto* array = node->as_array();
  if (!array || !array->is_array_of_tables()) {
    check.Problem(node->source(), "'inbox' must be an array of tables: write [[inbox]]");
    return;
  }
  std::set<std::string> names;
  std::set<fs::path> paths;
  for (const auto& element : *array) {
    const auto& table = *element.as_table();
    check.OnlyKeys(table, "[[inbox]]",
                   {"path", "name", "group", "groups", "labels", "settle_ms", "rescan_interval",
                    "max_file_bytes", "archive", "accept_expired", "password_file",
                    "max_kdf_iterations", "max_scrypt_n", "max_file_kdf_iterations",
                    "parse_timeout"});
    InboxConfig inbox;
    auto path = check.String(table, "path");
    if (!path) {
      if (!table.get("path")) check.Problem(table.source(), "[[inbox]] needs a 'path'");
      continue;
    }
    inbox.path = check.Path(*path);
    inbox.name = check.String(table, "name").value_or(inbox.path.filename().string());
    if (auto v = check.String(table, "group")) inbox.group = *v;
    if (auto v = check.Strings(table, "labels")) inbox.labels = *v;
    if (auto ok = storage::CheckEntryNames(std::nullopt, inbox.group, inbox.labels); !ok) {
      check.Problem(table.source(), "[[inbox]] " + ok.error().message);
    }
    ReadInboxGroups(check, table, inbox);
    if (auto v = check.Integer(table, "settle_ms", 0, 600'000)) inbox.settle_ms = *v;
    if (auto v = check.Duration(table, "rescan_interval", 1)) inbox.rescan_ms = *v * 1000;
    if (auto v = check.Integer(table, "max_file_bytes", 1, int64_t{1} << 30)) {
      inbox.max_file_bytes = static_cast<uint64_t>(*v);
    }
    if (auto v = check.Integer(table, "max_kdf_iterations", 1, 0x7fffffff)) {
      inbox.max_kdf_iterations = static_cast<uint64_t>(*v);
    }
    if (auto v = check.Integer(table, "max_scrypt_n", 2, int64_t{1} << 32)) {
      inbox.max_scrypt_n = static_cast<uint64_t>(*v);
    }
    if (auto v = check.Integer(table, "max_file_kdf_iterations", 1, int64_t{1} << 40)) {
      inbox.max_file_kdf_iterations = static_cast<uint64_t>(*v);
    }
    if (auto v = check.Duration(table, "parse_timeout", 1)) {
      if (*v > 3600) {
        check.Problem(table.get("parse_timeout")->source(), "'parse_timeout' is at most 1h");
      } else {
        inbox.parse_timeout_s = *v;
      }
    }
    if (auto v = check.Bool(table, "archive")) inbox.archive = *v;
    if (auto v = check.Bool(table, "accept_expired")) inbox.accept_expired = *v;
    if (auto v = check.String(table, "password_file")) inbox.password_file = check.Path(*v);
    if (!names.insert(inbox.name).second) {
      check.Problem(table.source(),
                    "two inboxes are named '" + inbox.name + "': give one a 'name'");
    }
    if (!paths.insert(inbox.path).second) {
      check.Problem(table.source(), "two inboxes watch " + inbox.path.string());
    }
    config.inboxes.push_back(std::move(inbox));
  }
}

void ReadBindings(Checker& check, const toml::table& root, Config& config,
                  const std::set<std::string>& plugin_names) {
  const toml::node* node = root.get("binding");
  if (!node) return;
  const auto* array = node->as_array();
  if (!array || !array->is_array_of_tables()) {
    check.Problem(node->source(), "'binding' must be an array of tables: write [[binding]]");
    return;
  }
  std::set<std::string> resources;
  for (const auto& element : *array) {
    const auto& table = *element.as_table();
    check.OnlyKeys(table, "[[binding]]", {"entry", "resource", "plugin"});
    BindingConfig binding;
    auto entry = check.String(table, "entry");
    auto resource = check.String(table, "resource");
    if (!table.get("entry")) check.Problem(table.source(), "[[binding]] needs an 'entry'");
    if (!table.get("resource")) check.Problem(table.source(), "[[binding]] needs a 'resource'");
    if (resource) {
      if (auto ok = storage::CheckResourceName(*resource); !ok) {
        check.Problem(table.get("resource")->source(), ok.error().message);
        resource.reset();
      } else if (!resources.insert(*resource).second) {
        check.Problem(table.get("resource")->source(),
                      "'" + *resource + "' is declared twice: a resource serves one certificate");
        resource.reset();
      }
    }
    if (!entry || !resource) continue;
    binding.entry = *entry;
    binding.resource = *resource;
    binding.plugin = check.String(table, "plugin");
    if (binding.plugin && !plugin_names.contains(*binding.plugin)) {
      std::string known;
      for (const auto& name : plugin_names) known += (known.empty() ? "" : ", ") + name;
      check.Problem(table.get("plugin")->source(),
                    "'plugin' names no [[plugin]]: '" + *binding.plugin +
                        "' (configured: " + (known.empty() ? "none" : known) + ")");
      continue;
    }
    config.bindings.push_back(std::move(binding));
  }
}

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
bool ReadPluginUser(Checker& check, const toml::table& table, PluginConfig& plugin) {
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

// [[plugin]] (docs/plugins.md). Returns every name written, valid or not, so that a binding
// naming a plugin with another problem is not reported twice.
std::set<std::string> ReadPlugins(Checker& check, const toml::table& root, Config& config) {
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

// A [[bus.client]] role "plugin:NAME" must name a [[plugin]].
void CheckClientRoles(Checker& check, const toml::table& root, const Config& config,
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

// Where a node was written, for "already set in FILE:LINE".
std::string Where(const toml::source_region& where, const fs::path& fallback) {
  return (where.path ? *where.path : fallback.string()) + ":" + std::to_string(where.begin.line);
}

// Moves what `fragment` says into `root`: tables merge key by key, arrays of tables ([[inbox]],
// [[binding]]) grow, and a key set in two files is an error naming both places.
void MergeFragment(Checker& check, toml::table& root, toml::table& fragment,
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
std::vector<fs::path> Fragments(const fs::path& main_file) {
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

}  // namespace

std::vector<std::filesystem::path> ConfigFragments(const std::filesystem::path& file) {
  return Fragments(fs::absolute(file).lexically_normal());
}

std::optional<uint64_t> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  std::string_view unit(end, text.data() + text.size() - end);
  uint64_t scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1;
  else if (unit == "m")
    scale = 60;
  else if (unit == "h")
    scale = 3600;
  else if (unit == "d")
    scale = 86400;
  else if (unit == "w")
    scale = 7 * 86400;
  else
    return std::nullopt;
  if (number > UINT64_MAX / scale) return std::nullopt;
  return number * scale;
}

base::Result<Config> LoadConfig(const std::filesystem::path& file) {
  Config config;
  config.file = fs::absolute(file).lexically_normal();
  Checker check(config.file);
  std::error_code ec;
  if (!fs::is_regular_file(config.file, ec)) {
    return base::Fail(base::code::kConfigUnreadable,
                          config.file.string() + ": no such config file (or not a regular file)");
  }
  toml::table root;
  try {
    root = toml::parse_file(config.file.string());
  } catch (const toml::parse_error& e) {
    check.Problem(e.source(), std::string(e.description()));
    return base::Fail(base::code::kConfigInvalid, check.Report());
  }
  for (const fs::path& fragment_file : Fragments(config.file)) {
    try {
      toml::table fragment = toml::parse_file(fragment_file.string());
      MergeFragment(check, root, fragment, config.file);
    } catch (const toml::parse_error& e) {
      check.Problem(e.source(), std::string(e.description()));
    }
  }
  check.OnlyKeys(root, "the top level", {"daemon", "bus", "expiry", "inbox", "binding", "plugin"});
  ReadDaemon(check, root, config);
  ReadBus(check, root, config);
  ReadExpiry(check, root, config);
  ReadInboxes(check, root, config);
  std::set<std::string> plugin_names = ReadPlugins(check, root, config);
  ReadBindings(check, root, config, plugin_names);
  CheckClientRoles(check, root, config, plugin_names);
  if (!check.ok()) return base::Fail(base::code::kConfigInvalid, check.Report());

  if (config.database.empty()) config.database = config.state_dir / "certinbox.db";
  if (config.master_key_file.empty()) config.master_key_file = config.state_dir / "master.key";
  if (config.publish_endpoint.empty()) {
    config.publish_endpoint = sdk::DefaultPublishEndpoint(config.state_dir.string());
  }
  if (config.control_endpoint.empty()) {
    config.control_endpoint = sdk::DefaultControlEndpoint(config.state_dir.string());
  }
  return config;
}

}  // namespace certinbox::daemon
