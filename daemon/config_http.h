// The [http] section of the config (docs/configuration.md "[http]"); part of LoadConfig
// (config.cc), with its ConfigChecker.
#pragma once

#include <toml++/toml.h>

#include "daemon/config.h"
#include "daemon/config_checker.h"

namespace certinbox::daemon {

// [http] into config.http: `listen` parsed into an address and a port, `token_file` read now.
// A listen address off loopback without a token_file is a problem: the listener would answer
// anyone who reaches the port.
void ReadHttp(ConfigChecker& check, const toml::table& root, Config& config);

}  // namespace certinbox::daemon
