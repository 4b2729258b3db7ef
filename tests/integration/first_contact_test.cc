// What a new operator meets first (issue 15, "first contact"): usage errors exit 2 with a
// sentence, --version answers, a stopped daemon leaves no socket file behind, and the CLI fails
// at once, saying why, when no daemon listens.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/files.h"
#include "tests/testing/process.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

CommandResult Daemon(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {CERTINBOXD_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

CommandResult Cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {CERTINBOX_CLI_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

TEST(FirstContactTest, DaemonUsageErrorsExitTwoAndVersionAnswers) {
  CommandResult bogus = Daemon({"--bogus"});
  EXPECT_EQ(bogus.exit_code, 2) << bogus.err;
  EXPECT_NE(bogus.err.find("--bogus"), std::string::npos) << bogus.err;
  CommandResult level = Daemon({"--log-level", "verbose", "--check"});
  EXPECT_EQ(level.exit_code, 2) << level.err;
  EXPECT_NE(level.err.find("verbose"), std::string::npos) << level.err;
  CommandResult version = Daemon({"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out, "certinboxd 0.1.0\n");
  CommandResult help = Daemon({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--version"), std::string::npos);
}

TEST(FirstContactTest, CliUsageErrorsSayWhatToWrite) {
  CommandResult path = Cli({"--control", "/run/certinbox/control.sock", "status"});
  EXPECT_EQ(path.exit_code, 2) << path.err;
  EXPECT_NE(path.err.find("--control ipc:///run/certinbox/control.sock"), std::string::npos)
      << path.err;
  CommandResult since = Cli({"--control", "ipc:///nonexistent.sock", "events", "--since", "-5"});
  EXPECT_EQ(since.exit_code, 2) << since.err;
  EXPECT_NE(since.err.find("'-5' is not an event sequence number"), std::string::npos) << since.err;
  EXPECT_EQ(since.err.find("e+308"), std::string::npos) << since.err;
}

TEST(FirstContactTest, AStoppedDaemonLeavesNoSocketAndTheCliFailsAtOnce) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  const fs::path control = daemon.state() / "control.sock";
  const fs::path events = daemon.state() / "events.sock";
  ASSERT_TRUE(fs::exists(control));
  ASSERT_TRUE(fs::exists(events));
  ASSERT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
  EXPECT_FALSE(fs::exists(control));
  EXPECT_FALSE(fs::exists(events));

  // A socket file nothing listens on, as a killed daemon leaves it: the CLI says so at once,
  // not after its 10 s timeout.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, control.c_str(), sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ::close(fd);
  ASSERT_TRUE(fs::exists(control));
  const auto t0 = Clock::now();
  CommandResult status = Cli({"--control", "ipc://" + control.string(), "status"});
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(status.exit_code, 3) << status.err;
  EXPECT_NE(status.err.find("nothing listens on the control socket"), std::string::npos)
      << status.err;
}

}  // namespace
}  // namespace certinbox::testing
