// RunCommand: real child processes (/bin/sh and coreutils), no mocks.
#include "plugins/sdk/command.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testing/files.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace certinbox::sdk {
namespace {

using namespace std::chrono_literals;
using testing::ReadFile;
using testing::TempDir;
using testing::WaitUntil;

Command Shell(const std::string& script, std::chrono::milliseconds timeout = 20s) {
  Command command;
  command.program = script;
  command.timeout = timeout;
  return command;
}

// Gone, or a zombie waiting for whoever adopted it: either way no longer running.
bool ProcessGone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  return close == std::string::npos || line.substr(close + 2, 1) == "Z";
}

TEST(RunCommand, ExitStatusesAndMessages) {
  auto ok = RunCommand(Shell("exit 0"));
  EXPECT_TRUE(ok.started);
  EXPECT_EQ(ok.exit_status, 0);
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.message, "exit 0");

  auto three = RunCommand(Shell("exit 3"));
  EXPECT_TRUE(three.started);
  EXPECT_EQ(three.exit_status, 3);
  EXPECT_FALSE(three.ok());
  EXPECT_FALSE(three.timed_out);
  EXPECT_EQ(three.message, "exit 3");

  auto killed = RunCommand(Shell("kill -9 $$"));
  EXPECT_FALSE(killed.exit_status.has_value());
  EXPECT_EQ(killed.signal, SIGKILL);
  EXPECT_FALSE(killed.ok());
}

TEST(RunCommand, ArgvIsNotGivenToAShell) {
  Command command;
  command.program = std::vector<std::string>{"printf", "%s|", "a b", "$HOME", "*"};
  auto result = RunCommand(command);
  EXPECT_TRUE(result.ok()) << result.message;
  EXPECT_EQ(result.output, "a b|$HOME|*|");
}

TEST(RunCommand, StdoutAndStderrInterleavedAndOnlyTheTailKept) {
  auto both = RunCommand(Shell("echo out; echo err >&2; echo out2"));
  EXPECT_EQ(both.output, "out\nerr\nout2\n");

  // 200 KB of output (more than a pipe holds: the reader must keep up) then a marker.
  Command big = Shell("head -c 200000 /dev/zero | tr '\\0' x; echo; echo THE-END");
  big.tail_bytes = 100;
  auto result = RunCommand(big);
  EXPECT_TRUE(result.ok()) << result.message;
  ASSERT_EQ(result.output.size(), 100u);
  EXPECT_TRUE(result.output.ends_with("x\nTHE-END\n")) << result.output;
}

TEST(RunCommand, StdinIsDelivered) {
  Command command = Shell("cat");
  command.stdin_data = "{\"type\":\"cert.imported\"}\nsecond line";
  auto result = RunCommand(command);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.output, command.stdin_data);

  // More than a pipe buffer, through a reader that counts it.
  Command large = Shell("wc -c");
  large.stdin_data.assign(1 << 20, 'y');
  auto counted = RunCommand(large);
  EXPECT_TRUE(counted.ok());
  EXPECT_EQ(std::stoul(counted.output), 1u << 20);
}

TEST(RunCommand, ACommandThatDoesNotReadItsStdinDoesNotDeadlock) {
  Command command = Shell("echo done");
  command.stdin_data.assign(4 << 20, 'z');  // far more than the pipe holds
  command.timeout = 20s;
  auto start = std::chrono::steady_clock::now();
  auto result = RunCommand(command);
  EXPECT_TRUE(result.ok()) << result.message;
  EXPECT_EQ(result.output, "done\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(RunCommand, EnvironmentIsAddedAndCanReplace) {
  ::setenv("CERTINBOX_COMMAND_TEST_KEPT", "kept", 1);
  ::setenv("CERTINBOX_COMMAND_TEST_REPLACED", "old", 1);
  Command command = Shell(
      "echo \"$CERTINBOX_COMMAND_TEST_KEPT $CERTINBOX_COMMAND_TEST_REPLACED "
      "$CERTINBOX_EVENT_TYPE\"");
  command.env = {{"CERTINBOX_COMMAND_TEST_REPLACED", "new"},
                 {"CERTINBOX_EVENT_TYPE", "cert.renewed"}};
  auto result = RunCommand(command);
  EXPECT_EQ(result.output, "kept new cert.renewed\n");
}

// A command a plugin runs (deploy's reload, exec's command) is not the plugin: the token in the
// plugin's environment is left out.
TEST(RunCommand, ThePluginsTokenIsNeverPassedOn) {
  ::setenv("CERTINBOX_PLUGIN_TOKEN", "secret-token", 1);
  Command command = Shell("echo \"${CERTINBOX_PLUGIN_TOKEN-unset}\"");
  auto result = RunCommand(command);
  ::unsetenv("CERTINBOX_PLUGIN_TOKEN");
  EXPECT_EQ(result.output, "unset\n");
}

TEST(RunCommand, WorkingDirectory) {
  TempDir dir("certinbox-command-");
  Command command = Shell("pwd");
  command.cwd = dir.path().string();
  auto result = RunCommand(command);
  EXPECT_EQ(result.output, dir.path().string() + "\n");
}

TEST(RunCommand, TimeoutKillsTheWholeProcessGroup) {
  TempDir dir("certinbox-command-");
  auto pid_file = dir.path() / "background.pid";
  Command command =
      Shell("sleep 30 & echo $! > '" + pid_file.string() + "'; echo started; wait", 500ms);
  auto start = std::chrono::steady_clock::now();
  auto result = RunCommand(command);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.timed_out);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.signal, SIGKILL);
  EXPECT_FALSE(result.exit_status.has_value());
  EXPECT_EQ(result.message, "timed out after 500 ms");
  EXPECT_EQ(result.output, "started\n");
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 10s);

  pid_t background = std::stoi(ReadFile(pid_file));
  ASSERT_GT(background, 0);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(background); }, 10s, 20ms))
      << "the background sleep " << background << " survived";
}

TEST(RunCommand, LeftoversHoldingTheOutputAreKilledAtTheTimeoutButTheExitStatusStands) {
  TempDir dir("certinbox-command-");
  auto pid_file = dir.path() / "leftover.pid";
  // The shell exits at once; its background child keeps the output pipe open.
  auto result =
      RunCommand(Shell("sleep 30 & echo $! > '" + pid_file.string() + "'; exit 0", 500ms));
  EXPECT_TRUE(result.started);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_status, 0);
  pid_t leftover = std::stoi(ReadFile(pid_file));
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(leftover); }, 10s, 20ms));
}

TEST(RunCommand, NotFound) {
  Command command;
  command.program = std::vector<std::string>{"certinbox-no-such-command-here", "x"};
  auto result = RunCommand(command);
  EXPECT_FALSE(result.started);
  EXPECT_FALSE(result.ok());
  EXPECT_FALSE(result.exit_status.has_value());
  EXPECT_NE(result.message.find("not found"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("certinbox-no-such-command-here"), std::string::npos);

  Command path;
  path.program = std::vector<std::string>{"/nonexistent/bin/reload"};
  EXPECT_FALSE(RunCommand(path).started);

  Command empty;
  empty.program = std::vector<std::string>{};
  EXPECT_FALSE(RunCommand(empty).started);

  // Through the shell, a missing command is the shell's exit 127.
  auto shell = RunCommand(Shell("certinbox-no-such-command-here"));
  EXPECT_TRUE(shell.started);
  EXPECT_EQ(shell.exit_status, 127);
}

TEST(RunCommand, NotExecutable) {
  TempDir dir("certinbox-command-");
  auto file = dir.path() / "script.sh";
  std::ofstream(file) << "#!/bin/sh\necho hi\n";
  std::filesystem::permissions(
      file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  Command command;
  command.program = std::vector<std::string>{file.string()};
  auto result = RunCommand(command);
  EXPECT_FALSE(result.started);
  EXPECT_NE(result.message.find("cannot run"), std::string::npos) << result.message;
}

TEST(ParseDurationMs, Units) {
  struct Case {
    std::string text;
    std::optional<int64_t> ms;
  };
  const Case cases[] = {
      {"30s", 30'000},
      {"5m", 300'000},
      {"250ms", 250},
      {"1h", 3'600'000},
      {"2d", 172'800'000},
      {"45", std::nullopt},  // no unit: one grammar everywhere (base/duration.h)
      {"0s", 0},
      {" 10s ", std::nullopt},
      {"2w", 1'209'600'000},
      {"", std::nullopt},
      {"s", std::nullopt},
      {"-1s", std::nullopt},
      {"10 parsecs", std::nullopt},
      {"1.5s", std::nullopt},
      {"10x", std::nullopt},
  };
  for (const auto& c : cases) {
    auto got = ParseDurationMs(c.text);
    if (c.ms) {
      ASSERT_TRUE(got.has_value()) << c.text;
      EXPECT_EQ(got->count(), *c.ms) << c.text;
    } else {
      EXPECT_FALSE(got.has_value()) << c.text;
    }
  }
}

}  // namespace
}  // namespace certinbox::sdk
