// Other programs run by the tests: to the end with their output captured (RunCommand), or in the
// background while the test goes on (ChildProcess). Every wait on them is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

namespace certinbox::testing {

struct CommandResult {
  int exit_code = -1;  // -signal when it was killed
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with its arguments, stdin from /dev/null; captures stdout and stderr.
// Killed with SIGKILL when it runs past `timeout`.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

struct SpawnOptions {
  std::string stdout_file;  // appended to (created 0644); empty: the test's own stdout
  std::string stderr_file;  // the same for stderr
  bool stderr_to_stdout = false;
  // In a process group of its own, which Signal, Stop and the destructor signal as a whole.
  bool own_process_group = false;
  // The whole environment ("NAME=value" each); the test's own when not given.
  std::optional<std::vector<std::string>> env;
};

// A program started in the background, stdin from /dev/null. The destructor kills it (SIGKILL)
// if it still runs and reaps it.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const SpawnOptions& options = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // False when it could not be started, or once it has ended and been reaped.
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  void Signal(int signal) const;
  // Its exit status (-signal when killed) once it ends within `deadline`; nullopt otherwise.
  std::optional<int> Wait(std::chrono::milliseconds deadline);
  // Sends `signal` (and SIGCONT, in case it is stopped), waits up to `deadline`, then SIGKILL;
  // returns the exit status (-1 when it was not running).
  int Stop(int signal = SIGTERM, std::chrono::milliseconds deadline = std::chrono::seconds(20));

 private:
  pid_t pid_ = -1;
  bool own_group_ = false;
};

}  // namespace certinbox::testing
