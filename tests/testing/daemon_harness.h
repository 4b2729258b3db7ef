// Starts the real certinboxd on a temporary folder with ipc:// endpoints, drops files into its
// inbox, reads its events from a real SUB socket and runs the real `certinbox` CLI.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "plugins/sdk/client.h"
#include "tests/testing/process.h"
#include "tests/testing/temp_dir.h"

namespace certinbox::testing {

struct HarnessOptions {
  int settle_ms = 100;
  uint64_t max_file_bytes = 1 << 20;
  bool accept_expired = false;
  bool archive = false;
  std::string extra_inbox_toml;  // more keys for the [[inbox]] table
  std::string expiry_toml;       // keys for an [expiry] table (none: no table)
  std::string daemon_toml;       // more keys for the [daemon] table
  std::string bus_toml;          // keys for a [bus] table (none: no table)
  std::string extra_toml;        // appended to the config as written ([[binding]], ...)
  // Keys for the [http] table. The default turns the listener off, so that tests running at
  // once do not contend for its default port.
  std::string http_toml = "listen = \"\"";
  // certinboxd is started through this command when set (e.g. {"/usr/bin/setpriv", ...}).
  std::vector<std::string> launcher;
  // tcp:// endpoints (the test writes their [bus] and [[bus.client]]s): the harness's control
  // client and SUB socket connect to these with `curve`, and Cli() adds `cli_args`.
  std::string control_endpoint, publish_endpoint;
  sdk::CurveKeys curve;
  std::vector<std::string> cli_args;
};

class DaemonHarness {
 public:
  explicit DaemonHarness(HarnessOptions options = {});
  // Stops the daemon (SIGKILL if SIGTERM is not enough) and removes the folder; after a failed
  // test, prints the daemon's log and keeps the folder.
  ~DaemonHarness();

  // Starts certinboxd and waits (bounded) until its control socket answers and the SUB socket
  // is connected. Fails the test (ADD_FAILURE) and returns false on timeout.
  bool Start();
  // Sends `signal` and waits for the process to end; returns its exit status (or -signal).
  int Stop(int signal = SIGTERM);
  bool running() const { return process_ && process_->running(); }
  pid_t pid() const { return running() ? process_->pid() : -1; }
  // Sends `signal` (SIGHUP, say) to the running daemon.
  void Signal(int signal) const;

  // Writes `bytes` to a temporary name and renames it into the inbox, as docs/inbox.md recommends.
  void Drop(const std::string& name, const std::string& bytes);
  // Writes in place (no rename), for tests of settling and odd files.
  void WriteInPlace(const std::string& name, const std::string& bytes);
  // Replaces the config file whole: written beside it, then renamed over it, as a configuration
  // manager does. The daemon reloads it when it sees the change (or on SIGHUP).
  void ReplaceConfig(const std::string& text) const;

  // Collects events from the SUB socket until `done(events so far)` is true or the deadline
  // passes. Returns every event received (also those received by earlier calls).
  const std::vector<nlohmann::json>& WaitForEvents(
      const std::function<bool(const std::vector<nlohmann::json>&)>& done,
      std::chrono::milliseconds deadline = std::chrono::seconds(20));
  // Events of one type received so far.
  std::vector<nlohmann::json> EventsOfType(const std::string& type) const;

  // Runs the `certinbox` CLI against this daemon's control socket.
  CommandResult Cli(const std::vector<std::string>& args) const;
  // `certinbox ls --json`, parsed.
  nlohmann::json LsJson() const;

  // The `status` reply (null when the daemon did not answer), and the entry of one plugin in it.
  nlohmann::json Status(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  nlohmann::json PluginStatus(const std::string& name);
  // `status`'s last_seq; -1 when the daemon did not answer.
  int64_t LastSeq(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Where the named cursor stands, from `cursors`; -1 when there is no such cursor (or no answer).
  int64_t CursorOf(const std::string& name);

  sdk::ControlClient& control() { return control_; }
  const std::filesystem::path& root() const { return root_.path(); }
  std::filesystem::path inbox() const { return root_ / "inbox"; }
  std::filesystem::path failed() const { return root_ / "inbox" / "failed"; }
  std::filesystem::path state() const { return root_ / "state"; }
  std::filesystem::path config_file() const { return root_ / "certinbox.toml"; }
  std::string control_endpoint() const {
    return !control_override_.empty() ? control_override_
                                      : "ipc://" + (state() / "control.sock").string();
  }
  std::string publish_endpoint() const {
    return !publish_override_.empty() ? publish_override_
                                      : "ipc://" + (state() / "events.sock").string();
  }
  std::string log() const;  // what the daemon wrote to stderr

 private:
  void WriteConfig(const HarnessOptions& options);
  void Pump(std::chrono::milliseconds timeout);

  TempDir root_;
  std::string control_override_, publish_override_;  // before control_
  sdk::CurveKeys curve_;
  std::vector<std::string> cli_args_;
  std::vector<std::string> launcher_;
  std::unique_ptr<ChildProcess> process_;  // certinboxd while it runs
  zmq::context_t zmq_;
  std::unique_ptr<sdk::Subscriber> subscriber_;
  sdk::ControlClient control_;
  std::vector<nlohmann::json> events_;
};

}  // namespace certinbox::testing
