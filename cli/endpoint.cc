#include "cli/endpoint.h"

#include <toml++/toml.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include "base/error_codes.h"
#include "base/unix_socket.h"
#include "plugins/sdk/client.h"

namespace certinbox::cli {
namespace fs = std::filesystem;
namespace {

fs::path Resolve(const fs::path& config_dir, const std::string& text) {
  fs::path path(text);
  if (path.is_relative()) path = config_dir / path;
  path = path.lexically_normal();
  // "state/." normalises to "state/": drop the trailing separator before appending names.
  if (!path.has_filename() && path != path.root_path()) path = path.parent_path();
  return path;
}

// The whole config file; the error's sentence is only the cause ("it is a directory").
base::Result<std::string> ReadFile(const fs::path& file) {
  std::error_code ec;
  if (fs::is_directory(file, ec)) {
    return base::Fail(base::code::kConfigUnreadable, "it is a directory");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return base::Fail(base::code::kConfigUnreadable, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return base::Fail(base::code::kConfigUnreadable, std::strerror(errno));
  return text.str();
}

// The string at [table] key, std::nullopt when absent; config_invalid when present but not a
// string.
base::Result<std::optional<std::string>> StringAt(const toml::table& root, std::string_view table,
                                                  std::string_view key) {
  const toml::node* section = root.get(table);
  if (!section) return std::nullopt;
  if (!section->is_table()) {
    return base::Fail(base::code::kConfigInvalid, "[" + std::string(table) + "] is not a table");
  }
  const toml::node* value = section->as_table()->get(key);
  if (!value) return std::nullopt;
  if (value->is_string()) return value->as_string()->get();
  const auto& where = value->source().begin;
  return base::Fail(base::code::kConfigInvalid, "[" + std::string(table) + "] " + std::string(key) +
                                                    " must be a string (line " +
                                                    std::to_string(where.line) + ")");
}

// A config file read and parsed, with the folder its relative paths start from.
struct ParsedConfig {
  toml::table root;
  fs::path dir;
};

// Fails with config_unreadable.
base::Result<ParsedConfig> ParseConfig(const fs::path& file) {
  std::error_code ec;
  fs::path absolute = fs::absolute(file, ec);
  if (ec) absolute = file;
  auto text = ReadFile(absolute);
  if (!text) {
    return base::Fail(base::code::kConfigUnreadable,
                      "cannot read config " + file.string() + ": " + text.error().message);
  }
  try {
    return ParsedConfig{toml::parse(*text, absolute.string()), absolute.parent_path()};
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return base::Fail(base::code::kConfigUnreadable,
                      "cannot parse config " + file.string() + ":" + std::to_string(where.line) +
                          ":" + std::to_string(where.column) + ": " + std::string(e.description()));
  }
}

}  // namespace

base::Result<std::string> ControlEndpointFromConfig(const fs::path& file) {
  auto parsed = ParseConfig(file);
  if (!parsed) return std::unexpected(std::move(parsed.error()));
  const toml::table& root = parsed->root;
  const fs::path& config_dir = parsed->dir;
  auto in_file = [&](std::string message) { return "config " + file.string() + ": " + message; };

  auto control = StringAt(root, "bus", "control");
  if (!control) return base::Fail(base::code::kConfigInvalid, in_file(control.error().message));
  if (*control) {
    const std::string& endpoint = **control;
    // As the daemon does: a relative ipc:// path is relative to the config file's folder.
    if (endpoint.starts_with("ipc://") && endpoint.size() > 6 && endpoint[6] != '/' &&
        endpoint[6] != '@') {
      return "ipc://" + Resolve(config_dir, endpoint.substr(6)).string();
    }
    return endpoint;
  }
  auto state_dir = StringAt(root, "daemon", "state_dir");
  if (!state_dir) {
    return base::Fail(base::code::kConfigInvalid, in_file(state_dir.error().message));
  }
  std::string dir = *state_dir ? Resolve(config_dir, **state_dir).string() : kDefaultStateDir;
  return sdk::DefaultControlEndpoint(dir);
}

base::Result<fs::path> ServerKeyFileFromConfig(const fs::path& file) {
  auto parsed = ParseConfig(file);
  if (!parsed) return std::unexpected(std::move(parsed.error()));
  auto state_dir = StringAt(parsed->root, "daemon", "state_dir");
  if (!state_dir) {
    return base::Fail(base::code::kConfigInvalid,
                      "config " + file.string() + ": " + state_dir.error().message);
  }
  fs::path dir = *state_dir ? Resolve(parsed->dir, **state_dir) : kDefaultStateDir;
  std::error_code ec;
  fs::path key = dir / "curve_server.pub";
  if (!fs::exists(key, ec)) return base::Fail(base::code::kCurveKeys, "no " + key.string());
  return key;
}

base::Result<ControlEndpoint> ResolveControlEndpoint(const std::string& control,
                                                     const std::string& config,
                                                     const fs::path& default_config) {
  if (!control.empty()) {
    if (!control.starts_with("ipc://") && !control.starts_with("tcp://")) {
      const bool path = control.find("://") == std::string::npos;
      return base::Fail(base::code::kConfigInvalid,
                        "--control " + control + ": an endpoint is ipc://PATH or tcp://HOST:PORT" +
                            (path ? " (for a socket file: --control ipc://" + control + ")" : ""));
    }
    return ControlEndpoint{control, "--control"};
  }
  if (!config.empty()) {
    auto endpoint = ControlEndpointFromConfig(config);
    if (!endpoint) return std::unexpected(endpoint.error());
    return ControlEndpoint{*endpoint, "config " + config};
  }
  std::error_code ec;
  if (fs::exists(default_config, ec)) {
    auto endpoint = ControlEndpointFromConfig(default_config);
    if (!endpoint) {
      return base::Fail(
          endpoint.error().code,
          endpoint.error().message + " (or give the endpoint with --control ENDPOINT)");
    }
    return ControlEndpoint{*endpoint, "config " + default_config.string()};
  }
  return ControlEndpoint{sdk::DefaultControlEndpoint(kDefaultStateDir),
                         "the built-in default; no config at " + default_config.string()};
}

std::string ConnectableEndpoint(std::string_view endpoint) {
  for (std::string_view any : {"tcp://*:", "tcp://0.0.0.0:"}) {
    if (endpoint.starts_with(any)) {
      return "tcp://127.0.0.1:" + std::string(endpoint.substr(any.size()));
    }
  }
  return std::string(endpoint);
}

base::Result<void> CheckIpcEndpoint(std::string_view endpoint) {
  if (!endpoint.starts_with("ipc://")) return {};
  std::string path(endpoint.substr(6));
  if (path.empty() || path[0] == '@') return {};  // abstract socket: no file
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    return base::Fail(base::code::kUnreachable,
                      "no control socket at " + path + ": is certinboxd running?");
  }
  // Connecting to a Unix socket needs write permission on it (and search on its folders).
  if (::access(path.c_str(), R_OK | W_OK) != 0) {
    return base::Fail(base::code::kUnreachable,
                      "cannot open the control socket " + path + " (" + std::strerror(errno) +
                          "): run as the daemon's user or a member of its group");
  }
  // A file nothing listens on (left by a daemon that was killed), or no socket at all: say so
  // now rather than wait for the reply timeout. ZeroMQ's own connect would retry in silence.
  switch (base::ProbeSocketFile(path)) {
    case base::SocketFile::kNobodyListens:
      return base::Fail(base::code::kUnreachable,
                        "nothing listens on the control socket " + path +
                            ": certinboxd is not running (the file is left from an earlier run)");
    case base::SocketFile::kNotASocket:
      return base::Fail(base::code::kUnreachable,
                        path + " is not a socket: is it the daemon's control socket?");
    default:
      break;
  }
  return {};
}

}  // namespace certinbox::cli
