// `certinbox csr create|show` and `certinbox export`: CSRs made by the daemon, and writing an
// entry's certificate, chain and (when asked and allowed) private key to files.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/session.h"

namespace certinbox::cli {

struct CsrCreateOptions {
  std::string name;
  std::string cn;
  std::vector<std::string> sans;
  std::string key = "rsa-2048";
  std::string organization, organizational_unit, locality, state, country, email;
  std::string group;
  std::vector<std::string> labels;
  std::string description;
  bool no_cn_san = false;
  std::string out;  // "" = stdout
  bool force = false;
  bool json = false;
};

struct CsrShowOptions {
  std::string entry;
  bool json = false;
};

struct CsrCommand {
  CLI::App* create = nullptr;
  CLI::App* show = nullptr;
  CsrCreateOptions create_options;
  CsrShowOptions show_options;
};

struct ExportOptions {
  std::string entry;
  std::string out;  // the folder
  bool chain = false;
  bool key = false;
  bool pfx = false;
  std::string password_file;
  bool force = false;
};

// Adds `csr` (with create and show) and `export` to `app`; returns the parent commands.
CLI::App* AddCsr(CLI::App& app, CsrCommand& command);
CLI::App* AddExport(CLI::App& app, ExportOptions& options);

// Runs whichever of csr create / csr show was parsed.
int RunCsr(const GlobalOptions& global, const CsrCommand& command);
int RunExport(const GlobalOptions& global, const ExportOptions& options);

}  // namespace certinbox::cli
