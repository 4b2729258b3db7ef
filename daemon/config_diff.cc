// What a config reload changes (daemon/config.h: DiffConfig, ApplicableConfig).
#include <algorithm>
#include <map>
#include <sstream>
#include <string_view>

#include "daemon/config.h"
#include "daemon/config_expiry.h"

namespace certinbox::daemon {
namespace {

std::string NotifyText(const std::vector<storage::ExpiryThreshold>& list) {
  std::string out;
  for (const auto& t : list) out += (out.empty() ? "" : ", ") + ThresholdText(t);
  return "[" + out + "]";
}

// Each [[expiry.rule]] as "group prod (expiring_soon = ..., notify = [...])".
std::string RulesText(const storage::ExpiryPolicy& policy) {
  std::string out;
  for (const auto& o : policy.overrides) {
    out += (out.empty() ? "" : "; ") +
           (o.name ? "entry " + o.group + "/" + *o.name : "group " + o.group) + " (" +
           ExpiryRuleText(o.rule) + ")";
  }
  return "[" + out + "]";
}

template <class T>
void Compare(std::vector<std::string>& out, const char* key, const T& before, const T& after) {
  if (before == after) return;
  std::ostringstream line;
  line << key << ": " << before << " -> " << after;
  out.push_back(line.str());
}

std::string BindingText(const BindingConfig& b) {
  return b.entry + " -> " + b.resource + (b.plugin ? " (plugin " + *b.plugin + ")" : "");
}

constexpr std::string_view kRemoved = "removed";

// The items of two lists matched by `name`, in name order: each removed or changed one, then
// each added one, as `say(name, item, how)` words it (`item` as it is in `next`, or as it was
// when removed; `how` is "removed", "changed" or "added").
template <class T, class Say>
void DiffByName(std::vector<std::string>& out, const std::vector<T>& running,
                const std::vector<T>& next, Say say) {
  std::map<std::string, const T*> before, after;
  for (const auto& item : running) before[item.name] = &item;
  for (const auto& item : next) after[item.name] = &item;
  for (const auto& [name, item] : before) {
    auto it = after.find(name);
    if (it == after.end()) {
      out.push_back(say(name, *item, kRemoved));
    } else if (!(*it->second == *item)) {
      out.push_back(say(name, *it->second, "changed"));
    }
  }
  for (const auto& [name, item] : after) {
    if (!before.contains(name)) out.push_back(say(name, *item, "added"));
  }
}

}  // namespace

ConfigChanges DiffConfig(const Config& running, const Config& next) {
  ConfigChanges changes;
  auto& applied = changes.applied;
  auto& restart = changes.restart_required;

  Compare(restart, "daemon.state_dir", running.state_dir.string(), next.state_dir.string());
  Compare(restart, "daemon.database", running.database.string(), next.database.string());
  Compare(restart, "daemon.master_key_file", running.master_key_file.string(),
          next.master_key_file.string());
  Compare(restart, "daemon.system_trust", running.system_trust, next.system_trust);
  Compare(restart, "bus.publish", running.publish_endpoint, next.publish_endpoint);
  Compare(restart, "bus.control", running.control_endpoint, next.control_endpoint);
  Compare(restart, "bus.publish_hwm", running.publish_hwm, next.publish_hwm);
  auto names = [](const std::vector<std::string>& list) {
    std::string out;
    for (const auto& name : list) out += (out.empty() ? "" : ",") + name;
    return "[" + out + "]";
  };
  Compare(restart, "bus.ipc_users", names(running.ipc_users), names(next.ipc_users));
  Compare(restart, "bus.ipc_groups", names(running.ipc_groups), names(next.ipc_groups));
  Compare(restart, "http.listen", running.http.listen, next.http.listen);
  Compare(restart, "http.token_file", running.http.token_file.string(),
          next.http.token_file.string());

  Compare(applied, "daemon.log_level", running.log_level, next.log_level);
  Compare(applied, "daemon.max_versions", running.max_versions, next.max_versions);
  Compare(applied, "bus.event_retention", running.event_retention_s, next.event_retention_s);
  Compare(applied, "bus.allow_key_export", running.allow_key_export, next.allow_key_export);
  Compare(applied, "expiry.expiring_soon", ThresholdText(running.expiry.defaults.expiring_soon),
          ThresholdText(next.expiry.defaults.expiring_soon));
  Compare(applied, "expiry.notify", NotifyText(running.expiry.defaults.notify),
          NotifyText(next.expiry.defaults.notify));
  Compare(applied, "expiry.rule", RulesText(running.expiry), RulesText(next.expiry));
  Compare(applied, "expiry.scan_interval", running.scan_interval_s, next.scan_interval_s);
  Compare(applied, "http.expires_in_seconds", running.http.expires_in_seconds,
          next.http.expires_in_seconds);

  DiffByName(applied, running.inboxes, next.inboxes,
             [](const std::string& name, const InboxConfig& inbox, std::string_view how) {
               return "inbox " + name + " " + std::string(how) + " (" + inbox.path.string() + ")";
             });

  for (const auto& b : running.bindings) {
    if (std::find(next.bindings.begin(), next.bindings.end(), b) == next.bindings.end()) {
      applied.push_back("binding removed: " + BindingText(b));
    }
  }
  for (const auto& b : next.bindings) {
    if (std::find(running.bindings.begin(), running.bindings.end(), b) == running.bindings.end()) {
      applied.push_back("binding added: " + BindingText(b));
    }
  }

  // [[bus.client]]: the ZAP handler checks new connections against the new list at once, and
  // each request's role is looked up by its client's name when it arrives.
  DiffByName(applied, running.clients, next.clients,
             [](const std::string& name, const BusClient& client, std::string_view how) {
               return "bus client " + name + " " + std::string(how) +
                      (how == kRemoved ? "" : " (role " + client.role + ")");
             });

  DiffByName(applied, running.plugins, next.plugins,
             [](const std::string& name, const PluginConfig&, std::string_view how) {
               return "plugin " + name + " " + std::string(how);
             });
  return changes;
}

Config ApplicableConfig(const Config& running, Config next) {
  next.state_dir = running.state_dir;
  next.database = running.database;
  next.master_key_file = running.master_key_file;
  next.system_trust = running.system_trust;
  next.publish_endpoint = running.publish_endpoint;
  next.control_endpoint = running.control_endpoint;
  next.publish_hwm = running.publish_hwm;
  next.ipc_users = running.ipc_users;
  next.ipc_groups = running.ipc_groups;
  next.ipc_uids = running.ipc_uids;
  next.ipc_gids = running.ipc_gids;
  // The listener, its address and its token stay as they were bound.
  const bool expires_in_seconds = next.http.expires_in_seconds;
  next.http = running.http;
  next.http.expires_in_seconds = expires_in_seconds;
  return next;
}

}  // namespace certinbox::daemon
