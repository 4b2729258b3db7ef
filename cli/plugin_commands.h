// `certinbox plugin env`: its options, CLI11 wiring (help texts) and run.
#pragma once

#include <string>

#include "cli/session.h"

namespace CLI {
class App;
}

namespace certinbox::cli {

struct PluginCommand {
  CLI::App* env = nullptr;  // `plugin env`, once added
  std::string name;         // the plugin
  bool json = false;
};

CLI::App* AddPlugin(CLI::App& app, PluginCommand& command);
int RunPlugin(const GlobalOptions& global, const PluginCommand& command);

}  // namespace certinbox::cli
