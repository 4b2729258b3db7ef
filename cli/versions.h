// `certinbox rollback` and `certinbox meta`: their options, their CLI11 wiring (the help texts
// are the user's documentation) and what they run.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/session.h"

namespace certinbox::cli {

struct RollbackOptions {
  std::string entry;  // name, group/name or numeric id
  int64_t to = 0;
  bool json = false;
};

struct MetaOptions {
  std::string entry;
  std::optional<std::string> description;
  std::vector<std::string> add_labels;
  std::vector<std::string> remove_labels;
  std::vector<std::string> set;  // KEY=VALUE
  std::vector<std::string> unset;
  std::optional<int64_t> version;
  bool json = false;
};

CLI::App* AddRollback(CLI::App& app, RollbackOptions& options);
CLI::App* AddMeta(CLI::App& app, MetaOptions& options);

int RunRollback(const GlobalOptions& global, const RollbackOptions& options);
int RunMeta(const GlobalOptions& global, const MetaOptions& options);

}  // namespace certinbox::cli
