// One started plugin process and its two output pipes. What the process prints on stdout and
// stderr is read line by line into its PluginLog (a line longer than kMaxLineBytes is cut). The
// process gets a session and process group of its own and /dev/null as stdin. When it exits,
// whatever it left in its group is killed (SIGKILL), what the pipes hold at that moment is read,
// the pipes are closed (so that a child left behind cannot keep them, or this object, alive),
// and then the exit callback runs. Loop thread only; nothing here waits for the process.
//
// It owns itself: made with `new`, it deletes itself once the process and both pipes are closed,
// which is after the exit callback, or soon after a Spawn that failed. Restarting, backoff and
// hang detection are the supervisor's (plugin_supervisor.h).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/plugin_log.h"

namespace certinbox::daemon {

class PluginProcess {
 public:
  static constexpr size_t kMaxLineBytes = 4096;

  struct Spec {
    std::filesystem::path file;     // the executable
    std::vector<std::string> args;  // argv, argv[0] included
    std::vector<std::string> env;   // the whole environment, "VAR=value"
    std::filesystem::path cwd;
    // Set between fork and exec by libuv (setgroups(0), setgid, setuid, in that order; a failed
    // setgid or setuid fails the start). Not set: it runs as the daemon's user.
    std::optional<uid_t> uid;
    gid_t gid = 0;  // with uid only
  };
  // Runs once, on the loop thread, after the process exited and its pipes were read: the exit
  // status, and the signal that ended it (0 when it exited).
  using ExitCallback =
      std::function<void(PluginProcess& process, int64_t exit_status, int term_signal)>;

  PluginProcess(uv_loop_t* loop, std::shared_ptr<PluginLog> log);

  // Starts `spec`. Returns 0, or libuv's error code: the object then closes its handles and
  // deletes itself, and `on_exit` never runs. Call once.
  int Spawn(const Spec& spec, ExitCallback on_exit);

  int pid() const { return process_.pid; }

 private:
  // One of the output pipes.
  struct Stream {
    uv_pipe_t pipe{};
    PluginProcess* process = nullptr;
    bool open = false;
    std::string partial;    // a line not ended yet, at most kMaxLineBytes
    bool skipping = false;  // the rest of a line that was cut
    std::array<char, 16384> buffer{};
  };

  ~PluginProcess() = default;  // only through the close callbacks

  void Close(uv_handle_t* handle);
  void Feed(Stream& stream, const char* data, size_t size);
  void Flush(Stream& stream);
  void StartReading(Stream& stream);
  void DrainAndClose(Stream& stream);
  void OnExit(int64_t exit_status, int term_signal);

  uv_loop_t* loop_;
  std::shared_ptr<PluginLog> log_;  // held so that late output still has a name and a limit
  uv_process_t process_{};
  bool process_open_ = false;
  Stream out_, err_;
  ExitCallback on_exit_;
};

}  // namespace certinbox::daemon
