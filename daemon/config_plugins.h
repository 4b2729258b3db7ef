// The [[plugin]] sections of the config (docs/plugins.md) and the checks that tie other sections
// to them; part of LoadConfig (config.cc), with its ConfigChecker.
#pragma once

#include <toml++/toml.h>

#include <set>
#include <string>

#include "daemon/config.h"
#include "daemon/config_checker.h"

namespace certinbox::daemon {

// [[plugin]] into config.plugins: each valid one, with its `user` and `group` looked up now (the
// supervisor's child drops to the ids between fork and exec, where a name lookup is not safe).
// Returns every name written, valid or not, so that a binding naming a plugin with another
// problem is not reported twice.
std::set<std::string> ReadPlugins(ConfigChecker& check, const toml::table& root, Config& config);

// A [[bus.client]] role "plugin:NAME" must name a [[plugin]] (one of `plugin_names`).
void CheckClientRoles(ConfigChecker& check, const toml::table& root, const Config& config,
                      const std::set<std::string>& plugin_names);

}  // namespace certinbox::daemon
