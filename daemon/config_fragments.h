// conf.d: the config fragments beside the main file, and how each is merged into what the main
// file says before LoadConfig reads the sections.
#pragma once

#include <toml++/toml.h>

#include <filesystem>

#include "daemon/config_checker.h"

namespace certinbox::daemon {

// Moves what `fragment` says into `root`: tables merge key by key, arrays of tables ([[inbox]],
// [[binding]]) grow, and a key set in two files is a problem of `check` naming both places
// (`main_file` where a node has no file of its own).
void MergeConfigFragment(ConfigChecker& check, toml::table& root, toml::table& fragment,
                         const std::filesystem::path& main_file);

}  // namespace certinbox::daemon
