#include "tests/testing/process.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testing/wait.h"

extern char** environ;

namespace certinbox::testing {
namespace {

using Clock = std::chrono::steady_clock;

int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status); }

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  CommandResult result;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> strings = argv;
  std::vector<char*> args = Pointers(strings);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    result.err = "cannot start " + argv[0];
    return result;
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  auto deadline = Clock::now() + timeout;
  while (open_fds > 0 && Clock::now() < deadline) {
    if (::poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buffer[65536];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  int status = 0;
  if (open_fds > 0) ::kill(pid, SIGKILL);  // timed out
  ::waitpid(pid, &status, 0);
  result.exit_code = ExitCode(status);
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const SpawnOptions& options)
    : own_group_(options.own_process_group) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  constexpr int kAppend = O_WRONLY | O_CREAT | O_APPEND;
  if (!options.stdout_file.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, options.stdout_file.c_str(), kAppend, 0644);
  }
  if (options.stderr_to_stdout) {
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  } else if (!options.stderr_file.empty()) {
    posix_spawn_file_actions_addopen(&actions, 2, options.stderr_file.c_str(), kAppend, 0644);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (own_group_) {
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
  }
  std::vector<std::string> arg_strings = argv;
  std::vector<char*> args = Pointers(arg_strings);
  std::vector<std::string> env_strings = options.env.value_or(std::vector<std::string>{});
  std::vector<char*> envp = Pointers(env_strings);
  if (posix_spawn(&pid_, args[0], &actions, &attr, args.data(),
                  options.env ? envp.data() : environ) != 0) {
    pid_ = -1;
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0) return;
  Signal(SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

void ChildProcess::Signal(int signal) const {
  if (pid_ > 0) ::kill(own_group_ ? -pid_ : pid_, signal);
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds deadline) {
  std::optional<int> code;
  if (pid_ <= 0) return code;
  WaitUntil(
      [&] {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
        code = ExitCode(status);
        return true;
      },
      deadline, std::chrono::milliseconds(10));
  if (code) {
    // What is left of its group (nothing, normally) goes with it.
    if (own_group_) ::kill(-pid_, SIGKILL);
    pid_ = -1;
  }
  return code;
}

int ChildProcess::Stop(int signal, std::chrono::milliseconds deadline) {
  if (pid_ <= 0) return -1;
  Signal(signal);
  Signal(SIGCONT);
  if (auto code = Wait(deadline)) return *code;
  Signal(SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return ExitCode(status);
}

}  // namespace certinbox::testing
