// certinboxd's configuration: TOML (toml++) read into a validated struct.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "pipeline/error.h"
#include "storage/expiry_policy.h"

namespace certinbox::daemon {

struct InboxConfig {
  std::string name;  // unique; default: the folder's base name
  std::filesystem::path path;
  std::string group = "default";
  // The groups a drop here may put entries in or renew entries of (its sidecar's `group`); it
  // holds `group`. None: any group.
  std::optional<std::vector<std::string>> groups;
  std::vector<std::string> labels;
  uint64_t settle_ms = 500;
  uint64_t rescan_ms = 30'000;
  uint64_t max_file_bytes = 1 << 20;
  bool archive = false;
  bool accept_expired = false;
  std::optional<std::filesystem::path> password_file;
  // What one file may cost (pipeline::KdfLimits, docs/inbox.md "Budgets"): key derivations
  // above these fail with kdf_too_expensive before any runs; a parse past parse_timeout_s of
  // CPU time fails with parse_timeout.
  uint64_t max_kdf_iterations = 10'000'000;
  uint64_t max_scrypt_n = uint64_t{1} << 20;
  uint64_t max_file_kdf_iterations = 30'000'000;
  uint64_t parse_timeout_s = 15;

  bool operator==(const InboxConfig&) const = default;
};

// [[binding]]: a binding the config declares, reconciled on start and reload (docs/bindings.md).
struct BindingConfig {
  std::string entry;  // "NAME" or "GROUP/NAME"
  std::string resource;
  std::optional<std::string> plugin;

  bool operator==(const BindingConfig&) const = default;
};

// [[plugin]]: a plugin process the daemon supervises (docs/plugins.md).
struct PluginConfig {
  std::string name;  // [A-Za-z0-9_-]+, unique; bindings name it
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to its environment
  std::vector<std::string> events = {""};                // topic prefixes; "" = all
  bool enabled = true;
  uint64_t ack_timeout_s = 300;     // 0 = never considered hung
  std::string options_json = "{}";  // [plugin.options] as a JSON object
  // `user` and `group`, resolved to ids when the config is read (the child that drops to them
  // must not look names up): the supervisor starts the plugin with this uid, this gid and no
  // supplementary groups. No user: it runs as the daemon's user (root), with a warning.
  std::string user, group;  // as written; group defaults to the user's primary group
  std::optional<uint32_t> uid, gid;

  bool operator==(const PluginConfig&) const = default;
};

// [[bus.client]]: a client allowed on the tcp:// endpoints, by its CURVE public key
// (docs/protocol.md "Authentication").
struct BusClient {
  std::string name;        // [A-Za-z0-9._@-]{1,64}, unique: the User-Id, logged with its ops
  std::string public_key;  // Z85, 40 characters, unique
  // "read", "admin", "keys" or "plugin:NAME" (NAME a configured [[plugin]]).
  std::string role;

  bool operator==(const BusClient&) const = default;
};

// [http]: the read-only HTTP listener (docs/configuration.md "[http]").
struct HttpConfig {
  std::string listen = "127.0.0.1:9793";  // as written; "" turns the listener off
  std::string address = "127.0.0.1";      // listen's IP literal
  uint16_t port = 9793;
  std::filesystem::path token_file;  // none: no token (only on a loopback address)
  std::string token;                 // token_file's content, read when the config is loaded
  bool expires_in_seconds = false;   // /metrics also has x509_cert_expires_in_seconds

  bool enabled() const { return !listen.empty(); }
  bool operator==(const HttpConfig&) const = default;
};

struct Config {
  std::filesystem::path file;  // the config file this came from
  // [daemon]
  std::filesystem::path state_dir = "/var/lib/certinbox";
  std::string log_level = "info";
  std::filesystem::path database;         // default state_dir/certinbox.db
  std::filesystem::path master_key_file;  // default state_dir/master.key
  bool system_trust = true;               // use the system trust store as anchors
  int max_versions = 50;                  // versions kept per entry
  // false: certinboxd makes itself non-dumpable at start (PR_SET_DUMPABLE 0): no core dump
  // with key bytes in it, no ptrace or /proc/PID/mem by a process of its user without
  // CAP_SYS_PTRACE.
  bool dumpable = false;
  // [bus]
  std::string publish_endpoint;  // default ipc://state_dir/events.sock
  std::string control_endpoint;  // default ipc://state_dir/control.sock
  int publish_hwm = 100'000;
  // Events older than this are pruned from the outbox once published and acknowledged by every
  // registered cursor; 0 keeps them forever.
  uint64_t event_retention_s = 90 * 86400;
  // Whether `export` may hand out private keys (PEM or PKCS#12) over the control socket, which
  // must also be ipc:// (file permissions are the access control). docs/protocol.md.
  bool allow_key_export = true;
  // [[bus.client]]: who may connect to a tcp:// endpoint (required for one). The daemon's own
  // key pair is STATE_DIR/curve_server.key and .pub, made on first start.
  std::vector<BusClient> clients;
  // [bus] ipc_users / ipc_groups, resolved to ids at load: when either is set, the ipc://
  // sockets admit only these users, members of these groups, root, the daemon's user and the
  // plugins' users, past the socket file's mode. Fixed at bind: a restart applies a change.
  std::vector<std::string> ipc_users, ipc_groups;
  std::vector<uint32_t> ipc_uids, ipc_gids;
  // [expiry]
  // (expiring_soon, notify and [[expiry.rule]]s; expiring_soon_days / notify_days read as days)
  storage::ExpiryPolicy expiry;
  uint64_t scan_interval_s = 3600;
  // [[inbox]]
  std::vector<InboxConfig> inboxes;
  // [[binding]]
  std::vector<BindingConfig> bindings;
  // [[plugin]]
  std::vector<PluginConfig> plugins;
  // [http]
  HttpConfig http;
};

// Reads and validates `file`, then the fragments conf.d/*.toml in the same folder (name order;
// docs/configuration.md). Relative paths in any of them are relative to the main
// file's folder.
// On failure the error (code "config_invalid") lists every problem as FILE:LINE:COLUMN: reason,
// one a line: syntax errors, unknown keys, wrong types, impossible values.
base::Result<Config> LoadConfig(const std::filesystem::path& file);

// The config's [[plugin]] of that name, or unknown_plugin with a message that lists the
// configured ones. Used by every op that names a plugin.
base::Result<const PluginConfig*> FindPlugin(const Config& config, const std::string& name);

// The conf.d fragments LoadConfig(file) reads, in order.
std::vector<std::filesystem::path> ConfigFragments(const std::filesystem::path& file);

// What a reload changes, as sentences for config.reloaded and the log: `applied` takes effect at
// once; `restart_required` names settings the running daemon keeps until it is restarted
// (state, database, master key, trust store, bus endpoints and high-water mark).
struct ConfigChanges {
  std::vector<std::string> applied;
  std::vector<std::string> restart_required;
  bool empty() const { return applied.empty() && restart_required.empty(); }
};
ConfigChanges DiffConfig(const Config& running, const Config& next);

// `next` with the settings only a restart applies taken from `running`: the config the daemon
// runs with after a reload.
Config ApplicableConfig(const Config& running, Config next);

// "90s", "15m", "1h", "7d", "2w" or a bare number of seconds -> seconds.
std::optional<uint64_t> ParseDuration(std::string_view text);

}  // namespace certinbox::daemon
