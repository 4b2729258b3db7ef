// Running a command from a plugin: the deploy plugin's reload command and the exec plugin's
// per-event command. The child gets its own process group, optional stdin bytes and extra
// environment; its stdout and stderr are read together (the tail is kept) and the whole group is
// killed with SIGKILL at the timeout.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace certinbox::sdk {

struct Command {
  // argv (argv[0] searched in PATH), or a string run with /bin/sh -c.
  std::variant<std::vector<std::string>, std::string> program;
  std::vector<std::pair<std::string, std::string>> env;  // added to the plugin's environment
  std::string stdin_data;
  std::chrono::milliseconds timeout{30'000};
  std::optional<std::string> cwd;
  size_t tail_bytes = 4096;  // how much of the output to keep (the end of it)
};

struct CommandResult {
  bool started = false;            // false: could not start (message says why, e.g. not found)
  std::optional<int> exit_status;  // set when it exited
  std::optional<int> signal;       // set when a signal ended it (SIGKILL after a timeout)
  bool timed_out = false;
  std::string output;   // the last tail_bytes of stdout+stderr, interleaved as written
  std::string message;  // one line for people: "exit 0", "exit 3", "timed out after 30 s", …
  bool ok() const { return started && !timed_out && exit_status == 0; }
};

// Blocks until the command (and its pipe) are done or the timeout kills it. Never throws.
CommandResult RunCommand(const Command& command);

// "30s", "5m", "250ms", "1h", "2d" (base/duration.h: a bare number is refused) -> milliseconds.
std::optional<std::chrono::milliseconds> ParseDurationMs(const std::string& text);

}  // namespace certinbox::sdk
