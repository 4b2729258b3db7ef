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

#include "base/duration.h"
#include "base/error.h"
#include "base/error_codes.h"
#include "daemon/config_checker.h"
#include "daemon/config_expiry.h"
#include "daemon/config_fragments.h"
#include "daemon/config_http.h"
#include "daemon/config_plugins.h"
#include "plugins/sdk/client.h"
#include "storage/inventory.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;
using group_t = struct group;  // `group` is also a local name below

void ReadDaemon(ConfigChecker& check, const toml::table& root, Config& config) {
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
void ReadBusClients(ConfigChecker& check, const toml::table& bus, Config& config) {
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
void ReadIpcFilters(ConfigChecker& check, const toml::table& bus, Config& config) {
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

void ReadBus(ConfigChecker& check, const toml::table& root, Config& config) {
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

// [[inbox]] groups: names by the rule for a group, the inbox's own group among them (a drop
// without a sidecar group is put there).
void ReadInboxGroups(ConfigChecker& check, const toml::table& table, InboxConfig& inbox) {
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

void ReadInboxes(ConfigChecker& check, const toml::table& root, Config& config) {
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
    check.OnlyKeys(
        table, "[[inbox]]",
        {"path", "name", "group", "groups", "labels", "settle_ms", "rescan_interval",
         "max_file_bytes", "archive", "accept_expired", "password_file", "max_kdf_iterations",
         "max_scrypt_n", "max_file_kdf_iterations", "parse_timeout"});
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

void ReadBindings(ConfigChecker& check, const toml::table& root, Config& config,
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

}  // namespace

std::optional<uint64_t> ParseDuration(std::string_view text) {
  auto seconds = base::ParseDurationSeconds(text);
  if (!seconds) return std::nullopt;
  return static_cast<uint64_t>(*seconds);
}

base::Result<Config> LoadConfig(const std::filesystem::path& file) {
  Config config;
  config.file = fs::absolute(file).lexically_normal();
  ConfigChecker check(config.file);
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
  for (const fs::path& fragment_file : ConfigFragments(config.file)) {
    try {
      toml::table fragment = toml::parse_file(fragment_file.string());
      MergeConfigFragment(check, root, fragment, config.file);
    } catch (const toml::parse_error& e) {
      check.Problem(e.source(), std::string(e.description()));
    }
  }
  check.OnlyKeys(root, "the top level",
                 {"daemon", "bus", "expiry", "inbox", "binding", "plugin", "http"});
  ReadDaemon(check, root, config);
  ReadBus(check, root, config);
  ReadExpiry(check, root, config);
  ReadInboxes(check, root, config);
  std::set<std::string> plugin_names = ReadPlugins(check, root, config);
  ReadBindings(check, root, config, plugin_names);
  CheckClientRoles(check, root, config, plugin_names);
  ReadHttp(check, root, config);
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
