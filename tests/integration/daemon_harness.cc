#include "tests/integration/daemon_harness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

extern char** environ;

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Marks the SUB socket connected, so a test never races the daemon's first event.
// Connected: over ipc:// once the connection is made; over tcp:// (CURVE) only once the handshake
// has succeeded, since the subscription reaches the daemon only after it.
class ConnectMonitor : public zmq::monitor_t {
 public:
  explicit ConnectMonitor(bool handshake) : handshake_(handshake) {}
  void on_event_connected(const zmq_event_t&, const char*) override {
    if (!handshake_) connected = true;
  }
  void on_event_handshake_succeeded(const zmq_event_t&, const char*) override {
    connected = true;
  }
  bool connected = false;

 private:
  bool handshake_;
};

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
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
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
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return result;
}

fs::path MakeTempRoot() {
  // Short, because ipc:// socket paths are limited to 107 bytes.
  char pattern[] = "/tmp/cbx-XXXXXX";
  const char* made = ::mkdtemp(pattern);
  return made ? fs::path(made) : fs::path();
}

DaemonHarness::DaemonHarness(HarnessOptions options)
    : root_(MakeTempRoot()),
      control_override_(options.control_endpoint),
      publish_override_(options.publish_endpoint),
      curve_(options.curve),
      cli_args_(options.cli_args),
      launcher_(options.launcher),
      zmq_(1),
      control_(zmq_, control_endpoint()) {
  control_.SetCurve(curve_);
  fs::create_directories(inbox());
  WriteConfig(options);
}

DaemonHarness::~DaemonHarness() {
  if (pid_ > 0) Stop(SIGTERM);
  subscriber_.reset();
  std::error_code ec;
  if (::testing::Test::HasFailure()) {
    std::cerr << "daemon log:\n" << log() << "\n(kept " << root_ << ")\n";
  } else {
    fs::remove_all(root_, ec);
  }
}

void DaemonHarness::WriteConfig(const HarnessOptions& options) {
  std::ofstream out(config_file());
  out << "[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\n"
      << options.daemon_toml << "\n\n"
      << "[[inbox]]\npath = \"inbox\"\nname = \"inbox\"\n"
      << "settle_ms = " << options.settle_ms << "\n"
      << "rescan_interval = \"2s\"\n"
      << "max_file_bytes = " << options.max_file_bytes << "\n"
      << "accept_expired = " << (options.accept_expired ? "true" : "false") << "\n"
      << "archive = " << (options.archive ? "true" : "false") << "\n"
      << options.extra_inbox_toml << "\n";
  if (!options.expiry_toml.empty()) out << "\n[expiry]\n" << options.expiry_toml << "\n";
  if (!options.bus_toml.empty()) out << "\n[bus]\n" << options.bus_toml << "\n";
  if (!options.extra_toml.empty()) out << "\n" << options.extra_toml << "\n";
}

void DaemonHarness::Signal(int signal) const {
  if (pid_ > 0) ::kill(pid_, signal);
}

std::string DaemonHarness::log() const { return ReadAll(root_ / "daemon.log"); }

bool DaemonHarness::Start() {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  std::string log_file = (root_ / "daemon.log").string();
  posix_spawn_file_actions_addopen(&actions, 2, log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::string binary = CERTINBOXD_BIN;
  std::string config = config_file().string();
  std::vector<std::string> args = launcher_;
  args.insert(args.end(), {binary, "--config", config});
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << binary;
    pid_ = -1;
    return false;
  }
  auto deadline = Clock::now() + std::chrono::seconds(20);
  bool answered = false;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      ADD_FAILURE() << "certinboxd exited at start:\n" << log();
      return false;
    }
    if (control_.Request("status", {}, std::chrono::milliseconds(200))) {
      answered = true;
      break;
    }
  }
  if (!answered) {
    ADD_FAILURE() << "certinboxd did not answer on " << control_endpoint() << ":\n" << log();
    return false;
  }
  subscriber_ = std::make_unique<sdk::Subscriber>(zmq_);
  const bool curve = publish_endpoint().starts_with("tcp://");
  ConnectMonitor monitor(curve);
  monitor.init(subscriber_->socket(), "inproc://harness-monitor-" + std::to_string(pid_),
               curve ? ZMQ_EVENT_HANDSHAKE_SUCCEEDED : ZMQ_EVENT_CONNECTED);
  if (curve) subscriber_->SetCurve(curve_);
  subscriber_->Connect(publish_endpoint());
  while (!monitor.connected && Clock::now() < deadline) monitor.check_event(100);
  if (!monitor.connected) {
    ADD_FAILURE() << "SUB socket did not connect to " << publish_endpoint();
    return false;
  }
  return true;
}

int DaemonHarness::Stop(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ADD_FAILURE() << "certinboxd did not stop on signal " << signal;
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    ::poll(nullptr, 0, 10);  // bounded wait for the process to exit
  }
  pid_ = -1;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  // A sanitizer report in the daemon fails the test like a failed assertion.
  std::string log_text = log();
  for (const char* marker : {"Sanitizer", "runtime error:"}) {
    EXPECT_EQ(log_text.find(marker), std::string::npos)
        << "certinboxd reported a sanitizer error (" << marker << "):\n" << log_text;
  }
  if (signal == SIGTERM || signal == SIGINT) {
    EXPECT_EQ(code, 0) << "certinboxd did not exit cleanly on signal " << signal;
  }
  return code;
}

void DaemonHarness::Drop(const std::string& name, const std::string& bytes) {
  fs::path temporary = inbox() / ("." + name + ".tmp");
  {
    std::ofstream out(temporary, std::ios::binary);
    out << bytes;
  }
  fs::rename(temporary, inbox() / name);
}

void DaemonHarness::WriteInPlace(const std::string& name, const std::string& bytes) {
  std::ofstream out(inbox() / name, std::ios::binary);
  out << bytes;
}

void DaemonHarness::Pump(std::chrono::milliseconds timeout) {
  if (!subscriber_) return;
  if (auto message = subscriber_->Receive(timeout)) events_.push_back(std::move(message->body));
  while (auto message = subscriber_->Receive(std::chrono::milliseconds(0))) {
    events_.push_back(std::move(message->body));
  }
}

const std::vector<nlohmann::json>& DaemonHarness::WaitForEvents(
    const std::function<bool(const std::vector<nlohmann::json>&)>& done,
    std::chrono::milliseconds deadline) {
  auto until = Clock::now() + deadline;
  Pump(std::chrono::milliseconds(0));
  while (!done(events_) && Clock::now() < until) Pump(std::chrono::milliseconds(50));
  return events_;
}

std::vector<nlohmann::json> DaemonHarness::EventsOfType(const std::string& type) const {
  std::vector<nlohmann::json> out;
  for (const auto& event : events_) {
    if (event.value("type", "") == type) out.push_back(event);
  }
  return out;
}

CommandResult DaemonHarness::Cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {CERTINBOX_CLI_BIN, "--control", control_endpoint()};
  argv.insert(argv.end(), cli_args_.begin(), cli_args_.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

nlohmann::json DaemonHarness::LsJson() const {
  auto result = Cli({"ls", "--json"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  auto json = nlohmann::json::parse(result.out, nullptr, false);
  EXPECT_FALSE(json.is_discarded()) << result.out;
  return json;
}

}  // namespace certinbox::testing
