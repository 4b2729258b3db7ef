// certinbox-exec supervised by the real daemon: a real script records the stdin and environment it
// is given for a cert.imported; a command that outlives its timeout is killed (its whole process
// group), reported, and the next event still runs.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Records stdin and the CERTINBOX_* variables of each event, each file renamed into place whole.
// For the certificate named slow.example.test it first waits on a background sleep (same process
// group) whose pid it writes down.
void WriteHookScript(const fs::path& dir) {
  std::ofstream(dir / "hook.sh") << "#!/bin/sh\n"
                                    "out='"
                                 << dir.string()
                                 << "'\n"
                                    "seq=\"$CERTINBOX_EVENT_SEQ\"\n"
                                    "if [ \"$CERTINBOX_CERT_NAME\" = slow.example.test ]; then\n"
                                    "  sleep 60 &\n"
                                    "  echo $! > \"$out/sleep.pid\"\n"
                                    "  wait\n"
                                    "fi\n"
                                    "cat > \"$out/.stdin-$seq\" && mv \"$out/.stdin-$seq\" "
                                    "\"$out/stdin-$seq.json\"\n"
                                    "env | grep '^CERTINBOX_' | sort > \"$out/.env-$seq\" && "
                                    "mv \"$out/.env-$seq\" \"$out/env-$seq.txt\"\n"
                                    "echo \"handled event $seq\"\n";
}

HarnessOptions WithExec(const fs::path& dir, const std::string& timeout) {
  HarnessOptions options;
  options.extra_toml =
      "[[plugin]]\nname = \"runner\"\ncommand = \"certinbox-exec\"\n"
      "events = [\"cert.imported\"]\n"
      "[plugin.options]\ncommand = [\"/bin/sh\", \"" +
      (dir / "hook.sh").string() + "\"]\ntimeout = \"" + timeout + "\"\n";
  return options;
}

bool WaitForFile(const fs::path& file, std::chrono::seconds deadline = 30s) {
  return WaitUntil([&] { return fs::exists(file); }, deadline, 20ms);
}

std::map<std::string, std::string> ParseEnv(const std::string& text) {
  std::map<std::string, std::string> env;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    size_t equals = line.find('=');
    if (equals != std::string::npos) env[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return env;
}

json ImportLeaf(DaemonHarness& daemon, const CertSpec& spec) {
  TestPki pki = TestPki::Make(spec);
  daemon.Drop(spec.cn + ".pem", pki.leaf.CertPem());
  daemon.WaitForEvents([&](const std::vector<json>& events) {
    return !FindByFingerprint(events, pki.leaf.Fingerprint()).is_null();
  });
  return FindByFingerprint(daemon.EventsOfType("cert.imported"), pki.leaf.Fingerprint());
}

// Gone, or a zombie nobody reaped yet: either way no longer running.
bool ProcessEnded(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

TEST(ExecPluginTest, TheCommandGetsTheEventOnStdinAndItsFieldsInTheEnvironment) {
  TempDir scratch("cbx-exec-", TempDir::Keep::kOnFailure);
  WriteHookScript(scratch.path());
  DaemonHarness daemon(WithExec(scratch.path(), "30s"));
  ASSERT_TRUE(daemon.Start());

  int64_t now = NowUnix();
  CertSpec spec = LeafSpec("exec.example.test");
  spec.not_before = now - 86400;
  spec.not_after = now + 200 * 86400;
  json imported = ImportLeaf(daemon, spec);
  ASSERT_FALSE(imported.is_null()) << daemon.log();
  std::string seq = std::to_string(imported["seq"].get<int64_t>());

  ASSERT_TRUE(WaitForFile(scratch.path() / ("env-" + seq + ".txt"))) << daemon.log();
  json stdin_json =
      json::parse(ReadFile(scratch.path() / ("stdin-" + seq + ".json")), nullptr, false);
  ASSERT_TRUE(stdin_json.is_object());
  EXPECT_EQ(stdin_json, imported) << "stdin is the event as published";

  auto env = ParseEnv(ReadFile(scratch.path() / ("env-" + seq + ".txt")));
  const json& cert = imported["certificate"];
  EXPECT_EQ(env["CERTINBOX_EVENT_TYPE"], "cert.imported");
  EXPECT_EQ(env["CERTINBOX_EVENT_SEQ"], seq);
  EXPECT_EQ(env["CERTINBOX_EVENT_TIME"], imported["time"]);
  EXPECT_EQ(env["CERTINBOX_CERT_ID"], cert["id"].dump());
  EXPECT_EQ(env["CERTINBOX_CERT_NAME"], "exec.example.test");
  EXPECT_EQ(env["CERTINBOX_CERT_GROUP"], cert["group"]);
  EXPECT_EQ(env["CERTINBOX_CERT_VERSION"], "1");
  EXPECT_EQ(env["CERTINBOX_CERT_FINGERPRINT"], cert["fingerprint_sha256"]);
  EXPECT_EQ(env["CERTINBOX_CERT_NOT_AFTER"], Rfc3339(now + 200 * 86400));
  EXPECT_EQ(env["CERTINBOX_CERT_DAYS_LEFT"], cert["days_left"].dump());
  EXPECT_EQ(env["CERTINBOX_CERT_STATUS"], "valid");
  EXPECT_FALSE(env.contains("CERTINBOX_RESOURCE"));
  // The plugin's environment is inherited, but not its token.
  EXPECT_EQ(env["CERTINBOX_PLUGIN"], "runner");
  EXPECT_FALSE(env.contains("CERTINBOX_PLUGIN_TOKEN"));

  // Acknowledged: the plugin's cursor moves past the event.
  int64_t cursor = 0;
  WaitUntil([&] {
    if (auto at = sdk::CursorPosition(daemon.control(), "plugin:runner")) cursor = *at;
    return cursor >= imported["seq"].get<int64_t>();
  });
  EXPECT_GE(cursor, imported["seq"].get<int64_t>());
}

TEST(ExecPluginTest, ACommandPastItsTimeoutIsKilledReportedAndTheNextEventRuns) {
  TempDir scratch("cbx-exec-", TempDir::Keep::kOnFailure);
  WriteHookScript(scratch.path());
  DaemonHarness daemon(WithExec(scratch.path(), "1s"));
  ASSERT_TRUE(daemon.Start());

  json slow = ImportLeaf(daemon, LeafSpec("slow.example.test"));
  ASSERT_FALSE(slow.is_null()) << daemon.log();
  json fast = ImportLeaf(daemon, LeafSpec("fast.example.test"));
  ASSERT_FALSE(fast.is_null()) << daemon.log();
  std::string slow_seq = std::to_string(slow["seq"].get<int64_t>());
  std::string fast_seq = std::to_string(fast["seq"].get<int64_t>());

  ASSERT_TRUE(WaitForFile(scratch.path() / ("env-" + fast_seq + ".txt"))) << daemon.log();
  EXPECT_FALSE(fs::exists(scratch.path() / ("stdin-" + slow_seq + ".json")))
      << "the slow command was not cut short";

  // The whole process group went, the background sleep too.
  ASSERT_TRUE(fs::exists(scratch.path() / "sleep.pid"));
  pid_t sleep_pid = std::stoi(ReadFile(scratch.path() / "sleep.pid"));
  EXPECT_TRUE(WaitUntil([&] { return ProcessEnded(sleep_pid); }, 10s, 20ms))
      << "the command's background sleep survived the timeout";

  // Reported: in the daemon's log and as the plugin's last_error.
  std::string expected = "event " + slow_seq + " (cert.imported): the command failed: timed out";
  json plugin_status;
  WaitUntil([&] {
    plugin_status = daemon.PluginStatus("runner");
    return plugin_status.is_object() && plugin_status.value("last_error", json()).is_string() &&
           Contains(daemon.log(), expected);
  });
  EXPECT_NE(daemon.log().find(expected), std::string::npos) << daemon.log();
  ASSERT_TRUE(plugin_status.value("last_error", json()).is_string()) << plugin_status.dump(2);
  EXPECT_NE(plugin_status["last_error"].get<std::string>().find(expected), std::string::npos)
      << plugin_status.dump(2);
}

}  // namespace
}  // namespace certinbox::testing
