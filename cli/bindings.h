// `certinbox bind`, `unbind` and `rm`: their options, CLI11 wiring (help texts) and runs.
#pragma once

#include <string>
#include <vector>

#include "cli/session.h"

namespace CLI {
class App;
}

namespace certinbox::cli {

struct BindOptions {
  std::string entry;     // name, group/name or id
  std::string resource;  // e.g. lb-prod:443
  std::string plugin;    // "" = none
  bool json = false;
};

struct UnbindOptions {
  std::string entry;
  std::string resource;
  bool json = false;
};

struct RmOptions {
  std::vector<std::string> entries;
  bool json = false;
};

CLI::App* AddBind(CLI::App& app, BindOptions& options);
CLI::App* AddUnbind(CLI::App& app, UnbindOptions& options);
CLI::App* AddRm(CLI::App& app, RmOptions& options);

int RunBind(const GlobalOptions& global, const BindOptions& options);
int RunUnbind(const GlobalOptions& global, const UnbindOptions& options);
// Exit 1 when any entry was not deleted (refused, not found), after printing every outcome.
int RunRm(const GlobalOptions& global, const RmOptions& options);

}  // namespace certinbox::cli
