// At-least-once delivery to a supervised plugin (docs/plugins.md "Events: at least once, by
// cursor"), with the recorder test plugin (tests/plugins/recorder.cc) run by the real daemon:
// - killed with SIGKILL while events flow, it is restarted and, in the end, has recorded every
//   event of the flow (duplicates allowed, none missing) and its cursor reached the last seq;
// - slowed down and behind when the daemon stops, it resumes from its cursor after the daemon
//   starts again on the same state, and none is lost.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/plugin_fixtures.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// The seqs the recorder wrote.
std::multiset<int64_t> Recorded(const fs::path& out) {
  std::multiset<int64_t> seqs;
  for (const auto& line : ReadRecorded(out)) seqs.insert(line.seq);
  return seqs;
}

// Runs the recorder, which appends what it handles to `out`.
HarnessOptions RecorderConfig(const fs::path& out, int delay_ms) {
  return {.extra_toml =
              RecorderToml({.events = "[\"\"]", .out = out.string(), .delay_ms = delay_ms})};
}

long RunningPid(DaemonHarness& daemon, const std::string& name) {
  json plugin = daemon.PluginStatus(name);
  if (plugin.is_null() || plugin.value("state", "") != "running") return 0;
  return plugin.value("pid", 0L);
}

void DropLeaf(DaemonHarness& daemon, const std::string& name) {
  Issued leaf = Issue(LeafSpec(name + ".example.test"));
  daemon.Drop(name + ".pem.toml", "name = \"" + name + "\"\n");
  daemon.Drop(name + ".pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported"));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();
}

// Meta changes of `entry`, each one cert.updated, from a thread with its own socket, until
// `limit` of them were sent (StopAfter lowers it).
class MetaFlow {
 public:
  MetaFlow(const std::string& endpoint, std::string entry, int limit) : limit_(limit) {
    thread_ = std::thread([this, endpoint, entry = std::move(entry)] {
      zmq::context_t context;
      sdk::ControlClient control(context, endpoint);
      for (int i = 0; i < limit_.load(); ++i) {
        auto changed = control.Request("meta", {{"entry", entry}, {"set", {{"n", i}}}});
        if (!changed) {
          error_ = std::to_string(i) + ": " + changed.error().message;
          break;
        }
        sent_.store(i + 1);
      }
    });
  }
  ~MetaFlow() { Join(); }
  // Sends `more` changes after those sent so far, then ends.
  void StopAfter(int more) { limit_.store(std::min(limit_.load(), sent_.load() + more)); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  int sent() const { return sent_.load(); }
  const std::string& error() const { return error_; }

 private:
  std::atomic<int> limit_;
  std::atomic<int> sent_{0};
  std::string error_;
  std::thread thread_;
};

// Every seq in (after, last] is in `recorded`; returns the missing ones (at most 20 shown).
std::string Missing(const std::multiset<int64_t>& recorded, int64_t after, int64_t last) {
  std::string missing;
  int count = 0;
  for (int64_t seq = after + 1; seq <= last; ++seq) {
    if (recorded.contains(seq)) continue;
    if (++count <= 20) missing += std::to_string(seq) + " ";
  }
  return count == 0 ? "" : std::to_string(count) + " missing: " + missing;
}

TEST(PluginRecoveryTest, KilledPluginIsRestartedAndMissesNoEvent) {
  TempDir scratch("cbx-rec-");
  const fs::path out = scratch / "recorded";
  DaemonHarness daemon(RecorderConfig(out, 0));
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(WaitUntil([&] { return RunningPid(daemon, "rec") > 0; }, seconds(30)))
      << daemon.PluginStatus("rec").dump() << daemon.log();
  const int64_t start = daemon.CursorOf("plugin:rec");
  ASSERT_GE(start, 0) << "the supervisor makes the plugin's cursor";

  DropLeaf(daemon, "web");
  // Changes flow until the restarted recorder has been running a while (at most 20,000).
  MetaFlow flow(daemon.control_endpoint(), "web", 20'000);
  // Mid-flow: the recorder has handled some, more are coming.
  ASSERT_TRUE(
      WaitUntil([&] { return flow.sent() >= 150 && Recorded(out).size() > 50; }, seconds(60)))
      << flow.error();
  const long first_pid = RunningPid(daemon, "rec");
  ASSERT_GT(first_pid, 0);
  ASSERT_EQ(::kill(static_cast<pid_t>(first_pid), SIGKILL), 0);
  const int sent_at_kill = flow.sent();

  // The supervisor starts it again (backoff 1 s); the flow goes on meanwhile, and after.
  ASSERT_TRUE(WaitUntil(
      [&] {
        long pid = RunningPid(daemon, "rec");
        return pid > 0 && pid != first_pid;
      },
      seconds(30)))
      << daemon.PluginStatus("rec").dump() << daemon.log();
  flow.StopAfter(150);
  flow.Join();
  ASSERT_TRUE(flow.error().empty()) << flow.error();
  const int kEvents = flow.sent();
  ASSERT_GT(kEvents, sent_at_kill + 100) << "events flowed after the kill";
  ASSERT_GE(kEvents, 300);

  const int64_t last = daemon.LastSeq();
  ASSERT_GE(last, start + 1 + kEvents);
  ASSERT_TRUE(WaitUntil([&] { return daemon.CursorOf("plugin:rec") >= last; }, seconds(60)))
      << "cursor at " << daemon.CursorOf("plugin:rec") << " of " << last << "\n"
      << daemon.log();
  auto recorded = Recorded(out);
  EXPECT_EQ(Missing(recorded, start, last), "");
  EXPECT_GE(daemon.PluginStatus("rec").value("restarts", 0), 1);
}

TEST(PluginRecoveryTest, PluginBehindWhenTheDaemonStopsResumesFromItsCursor) {
  TempDir scratch("cbx-rec-slow-");
  const fs::path out = scratch / "recorded";
  DaemonHarness daemon(RecorderConfig(out, 20));
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(WaitUntil([&] { return RunningPid(daemon, "rec") > 0; }, seconds(30)))
      << daemon.log();
  const int64_t start = daemon.CursorOf("plugin:rec");
  ASSERT_GE(start, 0);

  DropLeaf(daemon, "web");
  constexpr int kEvents = 300;  // 20 ms each: about 6 s of work for the recorder
  {
    MetaFlow flow(daemon.control_endpoint(), "web", kEvents);
    flow.Join();
    ASSERT_TRUE(flow.error().empty()) << flow.error();
  }
  const int64_t last = daemon.LastSeq();
  ASSERT_GE(last, start + 1 + kEvents);
  // Behind, but under way.
  ASSERT_TRUE(WaitUntil([&] { return daemon.CursorOf("plugin:rec") > start + 5; }, seconds(30)))
      << daemon.log();
  const int64_t before_stop = daemon.CursorOf("plugin:rec");
  ASSERT_LT(before_stop, last) << "the recorder caught up before the stop: slow it down";

  EXPECT_EQ(daemon.Stop(SIGTERM), 0);
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(WaitUntil([&] { return daemon.CursorOf("plugin:rec") >= last; }, seconds(90)))
      << "cursor at " << daemon.CursorOf("plugin:rec") << " of " << last << "\n"
      << daemon.log();
  auto recorded = Recorded(out);
  EXPECT_EQ(Missing(recorded, start, last), "");
  // It resumed from its cursor: what it had acknowledged before the stop came once only.
  for (int64_t seq = start + 1; seq <= before_stop; ++seq) {
    EXPECT_EQ(recorded.count(seq), 1u) << "seq " << seq << " (cursor was " << before_stop << ")";
  }
}

}  // namespace
}  // namespace certinbox::testing
