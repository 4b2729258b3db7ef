#include "tests/testing/daemon_harness.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "tests/testing/files.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Marks the SUB socket connected, so a test never races the daemon's first event.
// Connected: over ipc:// once the connection is made; over tcp:// (CURVE) only once the handshake
// has succeeded, since the subscription reaches the daemon only after it.
class ConnectMonitor : public zmq::monitor_t {
 public:
  explicit ConnectMonitor(bool handshake) : handshake_(handshake) {}
  void on_event_connected(const zmq_event_t&, const char*) override {
    if (!handshake_) connected = true;
  }
  void on_event_handshake_succeeded(const zmq_event_t&, const char*) override { connected = true; }
  bool connected = false;

 private:
  bool handshake_;
};

}  // namespace

DaemonHarness::DaemonHarness(HarnessOptions options)
    : root_("cbx-", TempDir::Keep::kOnFailure),
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
  if (running()) Stop(SIGTERM);
  subscriber_.reset();
  if (::testing::Test::HasFailure()) std::cerr << "daemon log:\n" << log() << "\n";
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
  out << "\n[http]\n" << options.http_toml << "\n";
  if (!options.extra_toml.empty()) out << "\n" << options.extra_toml << "\n";
}

void DaemonHarness::Signal(int signal) const {
  if (running()) process_->Signal(signal);
}

std::string DaemonHarness::log() const { return ReadFile(root_ / "daemon.log"); }

bool DaemonHarness::Start() {
  std::vector<std::string> args = launcher_;
  args.insert(args.end(), {CERTINBOXD_BIN, "--config", config_file().string()});
  process_ = std::make_unique<ChildProcess>(
      args, SpawnOptions{.stderr_file = (root_ / "daemon.log").string()});
  if (!process_->running()) {
    ADD_FAILURE() << "cannot start " << CERTINBOXD_BIN;
    process_.reset();
    return false;
  }
  auto deadline = Clock::now() + std::chrono::seconds(20);
  bool answered = false;
  while (Clock::now() < deadline) {
    if (process_->Wait(std::chrono::milliseconds(0))) {
      process_.reset();
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
  monitor.init(subscriber_->socket(), "inproc://harness-monitor-" + std::to_string(pid()),
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
  if (!running()) return -1;
  process_->Signal(signal);
  std::optional<int> exited = process_->Wait(std::chrono::seconds(20));
  if (!exited) {
    ADD_FAILURE() << "certinboxd did not stop on signal " << signal;
    exited = process_->Stop(SIGKILL);
  }
  process_.reset();
  const int code = *exited;
  // A sanitizer report in the daemon fails the test like a failed assertion.
  std::string log_text = log();
  for (const char* marker : {"Sanitizer", "runtime error:"}) {
    EXPECT_EQ(log_text.find(marker), std::string::npos)
        << "certinboxd reported a sanitizer error (" << marker << "):\n"
        << log_text;
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

void DaemonHarness::ReplaceConfig(const std::string& text) const {
  ReplaceFile(config_file(), text);
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

nlohmann::json DaemonHarness::Status(std::chrono::milliseconds timeout) {
  auto status = control_.Request("status", {}, timeout);
  return status ? *status : nlohmann::json();
}

nlohmann::json DaemonHarness::PluginStatus(const std::string& name) {
  nlohmann::json status = Status();
  if (!status.is_object()) return nullptr;
  for (const auto& plugin : status.value("plugins", nlohmann::json::array())) {
    if (plugin.value("name", "") == name) return plugin;
  }
  return nullptr;
}

int64_t DaemonHarness::LastSeq(std::chrono::milliseconds timeout) {
  nlohmann::json status = Status(timeout);
  return status.is_object() ? status.value("last_seq", int64_t{0}) : -1;
}

int64_t DaemonHarness::CursorOf(const std::string& name) {
  auto reply = control_.Request("cursors");
  if (!reply) return -1;
  for (const auto& cursor : (*reply)["cursors"]) {
    if (cursor.value("name", "") == name) return cursor.value("seq", int64_t{0});
  }
  return -1;
}

nlohmann::json DaemonHarness::LsJson() const {
  auto result = Cli({"ls", "--json"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  auto json = nlohmann::json::parse(result.out, nullptr, false);
  EXPECT_FALSE(json.is_discarded()) << result.out;
  return json;
}

}  // namespace certinbox::testing
