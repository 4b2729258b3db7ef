#include "bench/daemon_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/wire.h"
#include "bench/connect_monitor.h"

extern char** environ;

namespace certinbox::bench {
namespace {

namespace fs = std::filesystem;

}  // namespace

DaemonRunner::DaemonRunner(zmq::context_t& context, fs::path root, int settle_ms,
                           const std::string& http_listen)
    : context_(context), root_(std::move(root)), control_(context, control_endpoint()) {
  fs::create_directories(inbox());
  std::ofstream out(config_file());
  // log_level warn: the daemon's per-file debug/info lines are not part of what is measured.
  out << "[daemon]\nstate_dir = \"state\"\nlog_level = \"warn\"\n\n[http]\nlisten = \""
      << http_listen << "\"\n\n"
      << "[[inbox]]\npath = \"inbox\"\nname = \"bench\"\n"
      << "settle_ms = " << settle_ms << "\n"
      << "rescan_interval = \"30s\"\n"
      << "max_file_bytes = 1048576\n";
}

DaemonRunner::~DaemonRunner() {
  subscriber_.reset();
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

std::expected<void, std::string> DaemonRunner::Start(const std::string& binary,
                                                     std::chrono::milliseconds timeout) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  std::string log = log_file().string();
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::string config = config_file().string();
  std::string program = binary;
  char* argv[] = {program.data(), const_cast<char*>("--config"), config.data(), nullptr};
  int rc = posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    return std::unexpected("cannot start " + binary + ": " + std::strerror(rc));
  }

  auto deadline = Clock::now() + timeout;
  bool answered = false;
  while (!answered && Clock::now() < deadline) {
    if (!Alive()) return std::unexpected("certinboxd exited at start:\n" + LogTail(20));
    answered = control_.Request("status", {}, std::chrono::milliseconds(200)).has_value();
  }
  if (!answered) {
    return std::unexpected("certinboxd did not answer on " + control_endpoint() + ":\n" +
                           LogTail(20));
  }
  try {
    subscriber_ = std::make_unique<sdk::Subscriber>(
        context_,
        std::vector<std::string>{base::topic::kCertImported, base::topic::kImportRejected});
    // Unlimited: the benchmark must see every event of a burst, never a high-water-mark drop.
    subscriber_->socket().set(zmq::sockopt::rcvhwm, 0);
    ConnectMonitor monitor;
    monitor.init(subscriber_->socket(), "inproc://bench-monitor-" + std::to_string(pid_),
                 ZMQ_EVENT_CONNECTED);
    subscriber_->Connect(publish_endpoint());
    while (!monitor.connected && Clock::now() < deadline) monitor.check_event(100);
    if (!monitor.connected) {
      return std::unexpected("SUB socket did not connect to " + publish_endpoint());
    }
  } catch (const zmq::error_t& e) {
    return std::unexpected(std::string("subscribing: ") + e.what());
  }
  return {};
}

bool DaemonRunner::Alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::expected<int, std::string> DaemonRunner::Stop(std::chrono::milliseconds timeout) {
  subscriber_.reset();
  if (pid_ <= 0)
    return std::unexpected("certinboxd was not running (see " + log_file().string() + ")");
  ::kill(pid_, SIGTERM);
  int status = 0;
  auto deadline = Clock::now() + timeout;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return std::unexpected("certinboxd did not stop within " + std::to_string(timeout.count()) +
                             " ms of SIGTERM; killed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a child's exit
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

size_t DaemonRunner::Pump(std::chrono::milliseconds timeout, std::vector<ReceivedEvent>& out) {
  if (!subscriber_) return 0;
  size_t before = out.size();
  auto take = [&](std::chrono::milliseconds wait) {
    auto message = subscriber_->Receive(wait);
    if (!message) return false;
    ReceivedEvent event;
    event.at = Clock::now();
    event.type = message->topic;
    event.seq = message->seq();
    const auto& body = message->body;
    if (auto it = body.find(base::field::kCertificate); it != body.end() && it->is_object()) {
      event.fingerprint = it->value("fingerprint_sha256", "");
    }
    if (auto it = body.find(base::field::kSource); it != body.end() && it->is_object()) {
      event.file = it->value("file", "");
    }
    event.reason = body.value("reason", "");
    out.push_back(std::move(event));
    return true;
  };
  if (take(timeout)) {
    while (take(std::chrono::milliseconds(0))) {
    }
  }
  return out.size() - before;
}

std::expected<nlohmann::json, std::string> DaemonRunner::Control(
    const std::string& op, nlohmann::json args, std::chrono::milliseconds timeout) {
  auto reply = control_.Request(op, std::move(args), timeout);
  if (!reply) return std::unexpected(op + ": " + reply.error().code + ": " + reply.error().message);
  return std::move(*reply);
}

std::optional<uint64_t> DaemonRunner::PeakRssKib() const {
  if (pid_ <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmHWM:")) return std::stoull(line.substr(6));
  }
  return std::nullopt;
}

std::optional<DaemonCpu> DaemonRunner::Cpu() const {
  if (pid_ <= 0) return std::nullopt;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  DaemonCpu cpu;
  std::error_code ec;
  fs::path tasks = "/proc/" + std::to_string(pid_) + "/task";
  for (const auto& task : fs::directory_iterator(tasks, ec)) {
    std::ifstream in(task.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    // "TID (comm) S ppid ...": comm may hold spaces, so fields are counted after the last ')'.
    size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::string comm = stat.substr(open + 1, close - open - 1);
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 0; i <= 12 && fields >> field; ++i) {
      if (i == 11) utime = std::stod(field);
      if (i == 12) stime = std::stod(field);
    }
    double seconds = (utime + stime) / ticks;
    if (task.path().filename() == std::to_string(pid_)) {
      cpu.loop += seconds;
    } else if (comm.starts_with("ZMQbg")) {
      cpu.zmq += seconds;
    } else {
      cpu.pool += seconds;
    }
  }
  return cpu;
}

std::string DaemonRunner::LogTail(size_t lines) const {
  std::ifstream in(log_file());
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(std::move(line));
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) out += "  | " + l + "\n";
  return out.empty() ? "  | (daemon.log is empty)\n" : out;
}

}  // namespace certinbox::bench
