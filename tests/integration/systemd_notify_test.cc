// certinboxd under systemd's Type=notify (etc/systemd/certinboxd.service): the test plays
// systemd's part, a datagram socket named by NOTIFY_SOCKET, and reads what the real daemon says on
// it: READY=1 once its inbox is watched and its sockets bound, WATCHDOG=1 keep-alives when
// WATCHDOG_USEC asks for them, STATUS= counts, RELOADING=1 then READY=1 around a SIGHUP reload,
// STOPPING=1 on SIGTERM; and the plugins it starts get neither the socket nor the watchdog.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// systemd's end of NOTIFY_SOCKET: every datagram the daemon sent, in order.
class NotifySocket {
 public:
  explicit NotifySocket(const fs::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  bool bound() const { return bound_; }
  const fs::path& path() const { return path_; }

  // Reads datagrams until one satisfies `wanted` (returns it) or 15 s pass (returns "").
  std::string WaitFor(const std::function<bool(const std::string&)>& wanted) {
    for (size_t i = seen_; i < messages_.size(); ++i) {
      if (wanted(messages_[i])) {
        seen_ = i + 1;
        return messages_[i];
      }
    }
    seen_ = messages_.size();
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    while (Clock::now() < deadline) {
      pollfd ready{.fd = fd_, .events = POLLIN, .revents = 0};
      if (::poll(&ready, 1, 100) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) continue;
      messages_.emplace_back(buffer, static_cast<size_t>(n));
      seen_ = messages_.size();
      if (wanted(messages_.back())) return messages_.back();
    }
    return "";
  }
  // Every datagram read so far, one a line, for failure messages.
  std::string Transcript() const {
    std::string all;
    for (const auto& message : messages_) all += "[" + message + "]\n";
    return all;
  }
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  fs::path path_;
  int fd_ = -1;
  bool bound_ = false;
  std::vector<std::string> messages_;
  size_t seen_ = 0;  // messages_ before this one were offered to a WaitFor already
};

// One "NAME=value" line of a notification is `line`.
std::function<bool(const std::string&)> HasLine(const std::string& line) {
  return [line](const std::string& message) {
    return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
  };
}
std::function<bool(const std::string&)> StatusSays(const std::string& part) {
  return [part](const std::string& message) {
    const size_t status = ("\n" + message).find("\nSTATUS=");
    return status != std::string::npos && message.find(part, status) != std::string::npos;
  };
}

TEST(SystemdNotifyTest, ReadyOnlyOnceWatchingThenWatchdogStatusReloadAndStop) {
  TempDir sockets("cbx-sd-");
  NotifySocket systemd(sockets / "notify");
  ASSERT_TRUE(systemd.bound()) << std::strerror(errno);
  // A plugin that writes down the environment it runs with, at each import.
  const fs::path plugin_env = sockets / "plugin.env";
  const std::string plugin_toml =
      "[[plugin]]\nname = \"env\"\ncommand = \"certinbox-exec\"\nevents = [\"cert.imported\"]\n"
      "[plugin.options]\ncommand = [\"/bin/sh\", \"-c\", \"env > " +
      plugin_env.string() + ".tmp && mv " + plugin_env.string() + ".tmp " + plugin_env.string() +
      "\"]\n";
  // Through env(1), which execs the daemon in its own process: WATCHDOG_PID is left unset,
  // which sd_watchdog_enabled takes as "this process".
  DaemonHarness daemon(
      HarnessOptions{.extra_toml = plugin_toml,
                     .launcher = {"/usr/bin/env", "NOTIFY_SOCKET=" + systemd.path().string(),
                                  "WATCHDOG_USEC=200000"}});
  ASSERT_TRUE(daemon.Start());

  const std::string ready = systemd.WaitFor(HasLine("READY=1"));
  ASSERT_FALSE(ready.empty()) << systemd.Transcript() << daemon.log();
  // The READY=1 datagram carries the STATUS line the daemon made just before sending it: its
  // inbox was being watched by then (and the log says so).
  EXPECT_TRUE(StatusSays("1 inbox watched")(ready)) << ready;
  EXPECT_TRUE(StatusSays("=0 entries")(ready)) << ready;
  EXPECT_NE(daemon.log().find("watching inbox"), std::string::npos) << daemon.log();
  // Nothing before READY=1 but keep-alives (none, in fact: the loop runs only after it).
  EXPECT_EQ(systemd.messages().size(), 1u) << systemd.Transcript();
  EXPECT_TRUE(fs::is_directory(daemon.inbox()));

  // The keep-alives, from a timer of the loop at half of WATCHDOG_USEC: more than one.
  EXPECT_FALSE(systemd.WaitFor(HasLine("WATCHDOG=1")).empty()) << systemd.Transcript();
  EXPECT_FALSE(systemd.WaitFor(HasLine("WATCHDOG=1")).empty()) << systemd.Transcript();

  // A file dropped right after READY=1 is imported, and the STATUS line follows.
  Issued leaf = Issue(LeafSpec("notify.systemd.test"));
  daemon.Drop("notify.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported"));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();
  const std::string status = systemd.WaitFor(StatusSays("=1 entry"));
  EXPECT_TRUE(StatusSays("1 file taken in since start")(status)) << systemd.Transcript();
  // systemd's socket and watchdog are the daemon's: its plugins get neither.
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(plugin_env); })) << daemon.log();
  const std::string env = ReadFile(plugin_env);
  EXPECT_NE(env.find("CERTINBOX_PLUGIN=env"), std::string::npos) << env;
  EXPECT_EQ(env.find("NOTIFY_SOCKET"), std::string::npos) << env;
  EXPECT_EQ(env.find("WATCHDOG_"), std::string::npos) << env;

  // SIGHUP (the unit's ExecReload): RELOADING=1, then READY=1 once the reload is done.
  daemon.Signal(SIGHUP);
  const std::string reloading = systemd.WaitFor(HasLine("RELOADING=1"));
  ASSERT_FALSE(reloading.empty()) << systemd.Transcript() << daemon.log();
  EXPECT_NE(reloading.find("MONOTONIC_USEC="), std::string::npos) << reloading;
  EXPECT_FALSE(systemd.WaitFor(HasLine("READY=1")).empty()) << systemd.Transcript();

  // SIGTERM (systemctl stop): STOPPING=1 as the stop begins, and a clean exit.
  EXPECT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
  EXPECT_FALSE(systemd.WaitFor(HasLine("STOPPING=1")).empty()) << systemd.Transcript();
}

}  // namespace
}  // namespace certinbox::testing
