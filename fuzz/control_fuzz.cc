// Control requests: the bytes of one request on the control socket, answered by a real daemon
// (daemon/daemon.h) on a scratch state folder whose inventory holds a few entries (a leaf with
// its key and chain, a CA) imported at start from its inbox. Every op of docs/protocol.md is
// reachable; the daemon's request handler is private, so requests go the way a client's do,
// through a DEALER socket on the daemon's ipc:// control endpoint, while the daemon's loop runs
// on a thread of its own.
//
// Every request must get exactly one reply: none within a minute aborts the run as a hang.
// CERTINBOX_FUZZ_PRINT=1 prints the start of each reply (to read what a replayed input did).
// State carries over from one input to the next (an `rm` removes an entry for the rest of the
// run), as in the daemon.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>
#include <zmq.hpp>

#include "base/time.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "fuzz/fuzz_temp_dir.h"
#include "tests/testing/test_ca.h"

namespace {

using namespace certinbox;
using namespace std::chrono_literals;

constexpr auto kReplyTimeout = 60s;

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "control fuzz: %s\n", why.c_str());
  std::abort();
}

class ScratchDaemon {
 public:
  ScratchDaemon() {
    const auto& root = dir_.path();
    std::filesystem::create_directories(root / "inbox");
    auto pki = testing::TestPki::Make();
    fuzz::WriteFile(root / "inbox" / "leaf.pem", pki.ChainPem() + pki.leaf.KeyPem());
    fuzz::WriteFile(root / "inbox" / "ca.pem", pki.root.CertPem());
    fuzz::WriteFile(root / "certinbox.toml",
                    "[daemon]\nstate_dir = \"state\"\nlog_level = \"error\"\nsystem_trust = false\n"
                    "[[inbox]]\nname = \"inbox\"\npath = \"inbox\"\nsettle_ms = 10\n"
                    "[[plugin]]\nname = \"fuzz\"\ncommand = \"certinbox-fuzz-not-started\"\n"
                    "enabled = false\n");
    auto config = daemon::LoadConfig(root / "certinbox.toml");
    if (!config) Die("config: " + config.error().message);
    endpoint_ = config->control_endpoint;
    daemon_ = std::make_unique<daemon::Daemon>(std::move(*config), base::SystemClock());
    if (auto started = daemon_->Start(); !started) Die("start: " + started.error().message);
    loop_ = std::thread([this] { daemon_->Run(); });
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint_);
    WaitForEntries();
  }

  // Stops the daemon with SIGTERM (its own handler takes it) and waits for its loop.
  ~ScratchDaemon() {
    ::kill(::getpid(), SIGTERM);
    loop_.join();
    socket_.close();
    daemon_.reset();
  }

  // Sends one request and reads its one reply.
  std::string Ask(std::string_view request) {
    socket_.send(zmq::message_t(), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(request), zmq::send_flags::none);
    const auto deadline = std::chrono::steady_clock::now() + kReplyTimeout;
    while (!Readable()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        Die("no reply within 60 s to a request of " + std::to_string(request.size()) + " bytes");
      }
    }
    std::vector<zmq::message_t> frames;
    do {
      frames.emplace_back();
      if (!socket_.recv(frames.back(), zmq::recv_flags::dontwait)) Die("reply lost");
    } while (frames.back().more());
    if (frames.size() != 2 || frames[0].size() != 0) Die("a reply is an empty frame and a body");
    return frames[1].to_string();
  }

 private:
  // Waits up to a second for a reply. libFuzzer's SIGALRM (its -timeout watchdog) interrupts
  // the wait now and then: that is not an error.
  bool Readable() {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    try {
      return zmq::poll(&item, 1, 1s) == 1;
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      return false;
    }
  }

  void WaitForEntries() {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto reply = nlohmann::json::parse(Ask(R"({"op":"ls"})"), nullptr, false);
      if (reply.is_object() && reply.contains("entries") && reply["entries"].size() >= 2) return;
      std::this_thread::sleep_for(50ms);  // polling a real import, bounded by the deadline
    }
    Die("the seed files were not imported within 60 s");
  }

  fuzz::TempDir dir_{"control"};
  std::string endpoint_;
  std::unique_ptr<daemon::Daemon> daemon_;
  std::thread loop_;
  zmq::context_t context_{1};
  zmq::socket_t socket_{context_, zmq::socket_type::dealer};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  static ScratchDaemon scratch;  // stopped at exit
  (void)quiet;
  std::string reply = scratch.Ask(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!nlohmann::json::accept(reply)) Die("a reply that is not JSON: " + reply.substr(0, 200));
  static const bool print = std::getenv("CERTINBOX_FUZZ_PRINT") != nullptr;
  if (print) std::printf("%s\n", reply.substr(0, 300).c_str());
  return 0;
}
