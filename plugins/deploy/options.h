// certinbox-deploy's options (docs/plugins.md, "certinbox-deploy"): the [plugin.options] JSON the
// supervisor passes in CERTINBOX_PLUGIN_OPTIONS, validated, with per-resource overrides resolved.
#pragma once

#include <chrono>
#include <expected>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/error.h"

namespace certinbox::deploy {

// A reload command: a string for /bin/sh -c, or an argv.
using ReloadCommand = std::variant<std::string, std::vector<std::string>>;

struct ResourceOptions {           // resources."NAME": each key overrides the plugin-wide one
  std::optional<std::string> dir;  // the resource's folder itself (not a parent)
  std::optional<std::optional<ReloadCommand>> reload;  // set to nullopt: no command ("")
  std::optional<std::chrono::milliseconds> timeout;
};

struct DeployOptions {
  std::string dir;                      // parent of the per-resource folders
  std::optional<ReloadCommand> reload;  // none: no command
  std::chrono::milliseconds timeout{60'000};
  bool remove_on_unbind = false;
  // First retry delay of a failed push, doubling up to max_retry. "retry" is for tests mostly.
  std::chrono::milliseconds retry{30'000};
  std::chrono::milliseconds max_retry{600'000};
  std::map<std::string, ResourceOptions> resources;
};

// What applies to one resource.
struct ResolvedResource {
  std::string folder;
  std::optional<ReloadCommand> reload;
  std::chrono::milliseconds timeout;
};

// Validates `options` (an object; unknown keys are errors, so a typo is not silently ignored).
// `default_dir` is the plugin's own folder (CERTINBOX_PLUGIN_DIR), used when "dir" is not given.
// The error is one sentence naming the option.
base::Result<DeployOptions> ParseOptions(const nlohmann::json& options,
                                         const std::string& default_dir);

ResolvedResource Resolve(const DeployOptions& options, const std::string& resource);

// A resource name as a folder name: every character outside A-Z a-z 0-9 . _ - becomes '_', and
// a name of dots only ("", ".", "..") becomes underscores, so no resource names a folder outside
// `dir`.
std::string FolderName(const std::string& resource);

// For log lines and messages.
std::string Describe(const ReloadCommand& command);

}  // namespace certinbox::deploy
