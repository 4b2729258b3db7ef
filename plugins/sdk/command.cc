#include "plugins/sdk/command.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <string_view>

#include "base/duration.h"
#include "base/fd.h"

extern char** environ;

namespace certinbox::sdk {
namespace {

using Clock = std::chrono::steady_clock;

bool MakePipe(base::Fd& read_end, base::Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end = base::Fd(fds[0]);
  write_end = base::Fd(fds[1]);
  return true;
}

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// The plugin's environment with the command's variables added (a variable of the same name is
// replaced), without the plugin's token: a command a plugin runs is not the plugin.
std::vector<std::string> BuildEnvironment(
    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    if (name == "CERTINBOX_PLUGIN_TOKEN") continue;
    bool replaced = false;
    for (const auto& [key, value] : extra) replaced = replaced || key == name;
    if (!replaced) env.emplace_back(entry);
  }
  for (const auto& [key, value] : extra) env.push_back(key + "=" + value);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 != 0) return std::to_string(d.count()) + " ms";
  return std::to_string(d.count() / 1000) + " s";
}

void KeepTail(std::string& output, size_t tail_bytes) {
  if (output.size() > tail_bytes) output.erase(0, output.size() - tail_bytes);
}

// A pidfd makes the child's exit pollable next to its pipes; without one (old kernels) the loop
// polls with a short timeout and checks waitpid.
base::Fd OpenPidFd(pid_t pid) {
#ifdef SYS_pidfd_open
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return base::Fd(static_cast<int>(fd));
  }
#endif
  return base::Fd();
}

// SIGPIPE is blocked in this thread while we write the child's stdin (a child that exits without
// reading it must not kill the plugin); a SIGPIPE we caused is consumed before the mask returns.
class SigPipeBlock {
 public:
  SigPipeBlock() {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_);
  }
  ~SigPipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      sigset_t pipe_set;
      sigemptyset(&pipe_set);
      sigaddset(&pipe_set, SIGPIPE);
      timespec zero{0, 0};
      while (sigtimedwait(&pipe_set, nullptr, &zero) == -1 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

// Starts `args` (argv[0] searched in PATH) with `env`, `stdin_fd` as its stdin and `out_fd` as
// its stdout and stderr, in a process group of its own (pgid = its pid) so that the timeout can
// kill everything it started, with a clean signal mask and default handlers whatever the plugin
// blocks or ignores. Returns 0 with `pid` set, or posix_spawn's error number.
int SpawnInGroup(std::vector<std::string> args, std::vector<std::string> env,
                 const std::optional<std::string>& cwd, int stdin_fd, int out_fd, pid_t& pid) {
  std::vector<char*> c_args = CStrings(args);
  std::vector<char*> c_env = CStrings(env);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  if (cwd) posix_spawn_file_actions_addchdir_np(&actions, cwd->c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);

  int rc = ::posix_spawnp(&pid, c_args[0], &actions, &attr, c_args.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return rc;
}

// A started command seen from the plugin: its stdin is fed and its output read (the tail kept in
// `result`) until it has exited and its output is closed, or until the deadline.
class Child {
 public:
  Child(pid_t pid, base::Fd stdin_write, base::Fd out_read, const Command& command,
        CommandResult& result)
      : pid_(pid),
        stdin_write_(std::move(stdin_write)),
        out_read_(std::move(out_read)),
        command_(command),
        result_(result) {
    if (command_.stdin_data.empty()) {
      stdin_write_.Close();
    } else {
      SetNonBlocking(stdin_write_.get());
    }
    SetNonBlocking(out_read_.get());
    pidfd_ = OpenPidFd(pid_);
  }

  // Returns whether the deadline came first. Its stdin is closed either way.
  bool Exchange(Clock::time_point deadline) {
    bool deadline_hit = false;
    while (true) {
      Reap(WNOHANG);
      if (exited_ && !out_read_.valid()) break;
      auto now = Clock::now();
      if (now >= deadline) {
        deadline_hit = true;
        break;
      }
      pollfd fds[3];
      int n = 0;
      int out_i = -1, in_i = -1;
      if (out_read_.valid()) fds[out_i = n++] = {out_read_.get(), POLLIN, 0};
      if (stdin_write_.valid()) fds[in_i = n++] = {stdin_write_.get(), POLLOUT, 0};
      if (!exited_ && pidfd_.valid()) fds[n++] = {pidfd_.get(), POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
      int wait_ms = static_cast<int>(std::min<long long>(left, 60'000));
      if (!exited_ && !pidfd_.valid()) wait_ms = std::min(wait_ms, 20);
      int ready = ::poll(fds, n, wait_ms);
      if (ready < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (out_i >= 0 && fds[out_i].revents != 0) ReadOutput();
      if (in_i >= 0 && fds[in_i].revents != 0) WriteInput(fds[in_i].revents);
    }
    stdin_write_.Close();
    return deadline_hit;
  }

  // Past the deadline: everything in its group goes, the command itself if it still runs, and
  // whatever it left behind holding the output pipe open.
  void KillAfterDeadline() {
    ::kill(-pid_, SIGKILL);
    result_.timed_out = !exited_;
    Reap(0);
    // Drain what is already in the pipe; anything that escaped the group may hold it open, so
    // nothing here waits.
    while (out_read_.valid()) {
      ssize_t got = ::read(out_read_.get(), buffer_, sizeof buffer_);
      if (got <= 0) break;
      result_.output.append(buffer_, static_cast<size_t>(got));
    }
  }

  // The output's tail and the exit status or signal into the result.
  void Finish() {
    out_read_.Close();
    KeepTail(result_.output, command_.tail_bytes);
    if (exited_) {
      if (WIFEXITED(wait_status_)) result_.exit_status = WEXITSTATUS(wait_status_);
      if (WIFSIGNALED(wait_status_)) result_.signal = WTERMSIG(wait_status_);
    }
  }

 private:
  void Reap(int flags) {
    if (exited_) return;
    pid_t r;
    do {
      r = ::waitpid(pid_, &wait_status_, flags);
    } while (r == -1 && errno == EINTR);
    if (r == pid_ || (r == -1 && errno == ECHILD)) exited_ = true;
  }

  void ReadOutput() {
    while (true) {
      ssize_t got = ::read(out_read_.get(), buffer_, sizeof buffer_);
      if (got > 0) {
        result_.output.append(buffer_, static_cast<size_t>(got));
        if (result_.output.size() > 2 * command_.tail_bytes + sizeof buffer_) {
          KeepTail(result_.output, command_.tail_bytes);
        }
        continue;
      }
      if (got == 0 || (errno != EAGAIN && errno != EINTR)) out_read_.Close();
      if (got < 0 && errno == EINTR) continue;
      break;
    }
  }

  void WriteInput(short revents) {
    if (revents & (POLLERR | POLLHUP)) {
      stdin_write_.Close();  // it closed its stdin: the rest is not wanted
      return;
    }
    const std::string& data = command_.stdin_data;
    ssize_t put = ::write(stdin_write_.get(), data.data() + written_, data.size() - written_);
    if (put > 0) written_ += static_cast<size_t>(put);
    if ((put < 0 && errno != EAGAIN && errno != EINTR) || written_ == data.size()) {
      stdin_write_.Close();
    }
  }

  const pid_t pid_;
  base::Fd stdin_write_, out_read_, pidfd_;
  const Command& command_;
  CommandResult& result_;
  size_t written_ = 0;  // bytes of stdin_data written
  bool exited_ = false;
  int wait_status_ = 0;
  char buffer_[8192];
};

// The result's one line for people.
std::string Describe(const CommandResult& result, bool deadline_hit,
                     std::chrono::milliseconds timeout) {
  if (result.timed_out) return "timed out after " + FormatDuration(timeout);
  if (result.exit_status) {
    std::string message = "exit " + std::to_string(*result.exit_status);
    if (deadline_hit) {
      message += "; processes it left behind held its output open past the " +
                 FormatDuration(timeout) + " timeout and were killed";
    }
    return message;
  }
  if (result.signal) {
    return "killed by signal " + std::to_string(*result.signal) + " (" +
           ::strsignal(*result.signal) + ")";
  }
  return "its exit status could not be read";
}

}  // namespace

CommandResult RunCommand(const Command& command) {
  CommandResult result;
  std::vector<std::string> args;
  std::string shown;  // the command's name in messages
  if (const auto* argv = std::get_if<std::vector<std::string>>(&command.program)) {
    if (argv->empty() || (*argv)[0].empty()) {
      result.message = "empty command";
      return result;
    }
    args = *argv;
    shown = args[0];
  } else {
    args = {"/bin/sh", "-c", std::get<std::string>(command.program)};
    shown = "/bin/sh";
  }

  base::Fd stdin_read, stdin_write, out_read, out_write;
  if (!MakePipe(stdin_read, stdin_write) || !MakePipe(out_read, out_write)) {
    result.message = std::string("cannot create a pipe: ") + std::strerror(errno);
    return result;
  }
  pid_t pid = -1;
  int rc = SpawnInGroup(std::move(args), BuildEnvironment(command.env), command.cwd,
                        stdin_read.get(), out_write.get(), pid);
  if (rc != 0) {
    result.message = rc == ENOENT ? "command not found: " + shown
                                  : "cannot run " + shown + ": " + std::strerror(rc);
    if (rc == ENOENT && command.cwd) result.message += " (or its folder " + *command.cwd + ")";
    return result;
  }
  result.started = true;
  stdin_read.Close();
  out_write.Close();

  SigPipeBlock sigpipe_block;
  Child child(pid, std::move(stdin_write), std::move(out_read), command, result);
  const bool deadline_hit = child.Exchange(Clock::now() + command.timeout);
  if (deadline_hit) child.KillAfterDeadline();
  child.Finish();
  result.message = Describe(result, deadline_hit, command.timeout);
  return result;
}

std::optional<std::chrono::milliseconds> ParseDurationMs(const std::string& text) {
  auto parsed = base::ParseDuration(text);
  if (!parsed) return std::nullopt;
  return *parsed;
}

}  // namespace certinbox::sdk
