// What a supervised plugin is started with: its executable found, its folder made its own, and
// its environment. Stateless helpers of PluginSupervisor (loop thread: they touch the file
// system, briefly).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/config.h"

namespace certinbox::daemon {

// A command with a '/' is used as is; a bare name is looked up beside certinboxd, then in PATH.
// Returns the executable, or nullopt with `why` set to a sentence that says what is missing.
std::optional<std::filesystem::path> ResolvePluginCommand(const std::string& command,
                                                          std::string& why);

// The plugin's folder `dir` (STATE_DIR/plugins/NAME, which create_directories just tried to
// make, with `made` its result): mode 0700, owned by the plugin's user (root's when it has none),
// so that a plugin reads and writes its own folder and no other's. Its parents let a plugin with
// a user through (search only: 0711 for plugins/, the x bit for others on `state_dir`), not list
// them. Returns why it failed, or "".
std::string PreparePluginFolder(const std::filesystem::path& state_dir,
                                const std::filesystem::path& dir, const PluginConfig& config,
                                const std::error_code& made);

// The daemon's own environment without NOTIFY_SOCKET, with `overrides` set over it, as sorted
// "VAR=value" strings.
std::vector<std::string> PluginEnvironment(const std::map<std::string, std::string>& overrides);

}  // namespace certinbox::daemon
