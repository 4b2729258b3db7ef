// The subcommands. Each returns the process's exit code (cli/exit_codes.h) and prints its
// errors itself; output goes to stdout, errors to stderr.
#pragma once

#include <cstdint>
#include <string>

#include "cli/session.h"

namespace certinbox::cli {

struct LsOptions {
  std::string status;
  std::string group;
  std::string label;
  std::string expiring_within;  // a duration ("30d"), already validated by the parser
  std::string sort;             // "name" | "expiry" | "" (the daemon's default)
  bool json = false;
};

struct ShowOptions {
  std::string entry;  // name, group/name or numeric id
  bool versions = false;
  bool pem = false;
  bool json = false;
};

struct EventsOptions {
  int64_t since = 0;
  std::string cursor;  // named cursor: start where it stands, acknowledge what was printed
  bool follow = false;
  std::string type;  // prefix; "" = every type
  bool json = false;
};

struct CursorsOptions {
  std::string remove;  // --delete NAME
  bool json = false;
};

struct StatusOptions {
  bool json = false;
};

int RunLs(const GlobalOptions& global, const LsOptions& options);
int RunShow(const GlobalOptions& global, const ShowOptions& options);
int RunStatus(const GlobalOptions& global, const StatusOptions& options);
int RunCursors(const GlobalOptions& global, const CursorsOptions& options);
// Replays (and with `follow`, keeps printing) events until SIGINT or SIGTERM.
int RunEvents(const GlobalOptions& global, const EventsOptions& options);

}  // namespace certinbox::cli
