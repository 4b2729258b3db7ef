// `certinbox failed` and `certinbox retry`: the files the inboxes refused, with their reasons,
// and sending them back to be taken again. Their options, their CLI11 wiring (the help texts are
// the user's documentation) and what they run.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/session.h"

namespace certinbox::cli {

struct FailedOptions {
  std::string inbox;  // "": every inbox
  bool json = false;
};

struct RetryOptions {
  std::string inbox;  // "": the only inbox (required when there are several), or every with --all
  std::vector<std::string> files;
  bool all = false;
  bool json = false;
};

CLI::App* AddFailed(CLI::App& app, FailedOptions& options);
CLI::App* AddRetry(CLI::App& app, RetryOptions& options);
int RunFailed(const GlobalOptions& global, const FailedOptions& options);
int RunRetry(const GlobalOptions& global, const RetryOptions& options);

}  // namespace certinbox::cli
