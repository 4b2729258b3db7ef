// Where the daemon's control socket is: --control, else the config file's [bus] control, else
// the default for the config's [daemon] state_dir (docs/cli.md, "Finding the daemon").
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certinbox::cli {

inline constexpr const char* kDefaultConfigFile = "/etc/certinbox/certinbox.toml";
inline constexpr const char* kDefaultStateDir = "/var/lib/certinbox";

struct ControlEndpoint {
  std::string endpoint;
  std::string origin;  // for messages: where the endpoint came from
};

// `control` and `config` are the values of --control and --config (or their environment
// variables), "" when not given. With neither, `default_config` is read if it exists; if it
// does not, the built-in default is used. Fails with config_unreadable when a config cannot be
// read or parsed, config_invalid when its two keys have the wrong type.
base::Result<ControlEndpoint> ResolveControlEndpoint(
    const std::string& control, const std::string& config,
    const std::filesystem::path& default_config = kDefaultConfigFile);

// Reads only [bus] control and [daemon] state_dir from a certinboxd config (other keys are the
// daemon's to validate). Relative paths are relative to the config file's folder, as the daemon
// resolves them.
base::Result<std::string> ControlEndpointFromConfig(const std::filesystem::path& file);

// The daemon's CURVE public key file named by a certinboxd config: STATE_DIR/curve_server.pub
// of its [daemon] state_dir (default /var/lib/certinbox). Fails with config_unreadable or
// config_invalid when the config cannot be used, curve_keys when the file is not there.
base::Result<std::filesystem::path> ServerKeyFileFromConfig(const std::filesystem::path& file);

// An endpoint the daemon binds may name every interface (tcp://*:5556, tcp://0.0.0.0:5556):
// the client connects to the local host instead. Other endpoints are returned unchanged.
std::string ConnectableEndpoint(std::string_view endpoint);

// Fails with unreachable and a sentence for an ipc:// endpoint whose socket file is missing or
// not writable by this user (the daemon is not running, or the user is not in its group).
// Succeeds when the file is there and usable, or the endpoint is not a file.
base::Result<void> CheckIpcEndpoint(std::string_view endpoint);

}  // namespace certinbox::cli
