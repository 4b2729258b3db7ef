// Runs the real certinboxd for the benchmark: writes its config under a root folder, spawns it,
// waits for its control socket, subscribes to its events and stops it.
// Not thread-safe: one thread uses a runner.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "plugins/sdk/client.h"

namespace certinbox::bench {

using Clock = std::chrono::steady_clock;

// One cert.imported or import.rejected event, stamped when this process received it.
struct ReceivedEvent {
  Clock::time_point at;
  std::string type;
  int64_t seq = 0;
  std::string fingerprint;  // certificate.fingerprint_sha256 (cert.imported)
  std::string file;         // source.file
  std::string reason;       // reason (import.rejected)
};

// CPU time (user + system, seconds) the daemon's threads have used so far.
struct DaemonCpu {
  double loop = 0;  // the main thread: the libuv loop, SQLite, publishing
  double pool = 0;  // libuv's thread pool: reading and parsing files
  double zmq = 0;   // ZeroMQ's background threads (ZMQbg/*)
  double total() const { return loop + pool + zmq; }
};

class DaemonRunner {
 public:
  // Lays out root/{certinbox.toml,inbox,state}; the daemon logs to root/daemon.log.
  // `http_listen`: the [http] listen address ("": no listener, so that benchmarks running at
  // once do not contend for its default port).
  DaemonRunner(zmq::context_t& context, std::filesystem::path root, int settle_ms,
               const std::string& http_listen = "");
  ~DaemonRunner();  // SIGKILLs the daemon if it still runs

  // Spawns `binary`, waits until its control socket answers "status" and the SUB socket
  // (cert.imported and import.rejected) is connected, all within `timeout`.
  std::expected<void, std::string> Start(const std::string& binary,
                                         std::chrono::milliseconds timeout);
  // SIGTERM, then waits up to `timeout` (SIGKILL after). Returns the exit code (or -signal).
  std::expected<int, std::string> Stop(std::chrono::milliseconds timeout);
  // Whether the process still runs (reaps it if it ended).
  bool Alive();

  // Waits up to `timeout` for one event, then takes every event already queued, appending
  // them to `out`. Returns how many were appended.
  size_t Pump(std::chrono::milliseconds timeout, std::vector<ReceivedEvent>& out);

  // A control request; errors become sentences.
  std::expected<nlohmann::json, std::string> Control(const std::string& op, nlohmann::json args,
                                                     std::chrono::milliseconds timeout);

  // VmHWM (peak resident set) of the daemon in KiB, from /proc/PID/status.
  std::optional<uint64_t> PeakRssKib() const;
  // From /proc/PID/task/*/stat; threads that already ended are not counted.
  std::optional<DaemonCpu> Cpu() const;
  // The last `lines` lines of daemon.log.
  std::string LogTail(size_t lines) const;

  pid_t pid() const { return pid_; }
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path inbox() const { return root_ / "inbox"; }
  std::filesystem::path state() const { return root_ / "state"; }
  std::filesystem::path config_file() const { return root_ / "certinbox.toml"; }
  std::filesystem::path log_file() const { return root_ / "daemon.log"; }
  std::string control_endpoint() const { return "ipc://" + (state() / "control.sock").string(); }
  std::string publish_endpoint() const { return "ipc://" + (state() / "events.sock").string(); }

 private:
  zmq::context_t& context_;
  std::filesystem::path root_;
  pid_t pid_ = -1;
  sdk::ControlClient control_;
  std::unique_ptr<sdk::Subscriber> subscriber_;
};

}  // namespace certinbox::bench
