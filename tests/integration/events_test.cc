// Events are never lost: a subscriber that was too slow for the PUB socket's high-water mark
// recovers every event from the outbox, and the outbox's retention never prunes an event a
// registered cursor still needs. The real daemon, real SUB sockets, the real CLI.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <sstream>
#include <zmq_addon.hpp>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/files.h"
#include "tests/testing/scale.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// 50,000 in the normal build; what the recovery proves needs no more than a burst far past the
// high-water marks (100 here), so 2,000 do under the sanitizers: ~10 s alone, with room for a
// loaded machine under the 300 s timeout.
constexpr int64_t kEvents = Scaled(50'000, 2'000);

// `certinbox ARGS...` running in the background with stdout to a file.
class BackgroundCli {
 public:
  BackgroundCli(const std::vector<std::string>& args, const fs::path& out)
      : out_(out),
        process_(Argv(args), {.stdout_file = out.string(), .stderr_file = out.string() + ".err"}) {}

  bool running() const { return process_.running(); }
  void Signal(int signal) const { process_.Signal(signal); }
  // Ends the process (SIGCONT too, in case it is stopped) and returns its exit status.
  int Stop(int signal = SIGTERM) { return process_.Stop(signal); }

  // The seq of every JSON line printed so far.
  std::vector<int64_t> Seqs() const {
    std::ifstream in(out_);
    std::vector<int64_t> seqs;
    std::string line;
    while (std::getline(in, line)) {
      auto event = json::parse(line, nullptr, false);
      if (event.is_object()) seqs.push_back(event.value("seq", int64_t{-1}));
    }
    return seqs;
  }

  std::string Stderr() const { return ReadFile(out_.string() + ".err"); }

 private:
  static std::vector<std::string> Argv(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {CERTINBOX_CLI_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  fs::path out_;
  ChildProcess process_;
};

// Every seq from 1 to `last`, each exactly once.
::testing::AssertionResult EachSeqOnce(const std::vector<int64_t>& seqs, int64_t last) {
  std::map<int64_t, int> count;
  for (int64_t seq : seqs) ++count[seq];
  for (int64_t seq = 1; seq <= last; ++seq) {
    auto it = count.find(seq);
    if (it == count.end()) return ::testing::AssertionFailure() << "seq " << seq << " is missing";
    if (it->second != 1) {
      return ::testing::AssertionFailure() << "seq " << seq << " came " << it->second << " times";
    }
  }
  if (count.size() != static_cast<size_t>(last)) {
    return ::testing::AssertionFailure() << count.size() << " distinct seqs, expected " << last;
  }
  return ::testing::AssertionSuccess();
}

TEST(EventsTest, PausedSubscribersRecoverEverySeqOfABurstFromTheOutbox) {
  DaemonHarness daemon({.bus_toml = "publish_hwm = 100\n"});
  ASSERT_TRUE(daemon.Start());

  // Subscriber 1: a raw SUB socket with a small high-water mark that is not read while the
  // events are published. Subscriber 2: `certinbox events --follow`, stopped with SIGSTOP.
  zmq::context_t zmq(1);
  zmq::socket_t raw(zmq, zmq::socket_type::sub);
  raw.set(zmq::sockopt::rcvhwm, 100);
  raw.set(zmq::sockopt::subscribe, "");
  raw.connect(daemon.publish_endpoint());
  BackgroundCli follower({"--control", daemon.control_endpoint(), "events", "--follow", "--json"},
                         daemon.root() / "follow.jsonl");
  ASSERT_TRUE(follower.running());

  // Both are connected once the first event reaches them.
  Issued leaf = Issue(LeafSpec("bulk.events.test"));
  daemon.Drop("bulk.pem", leaf.CertPem() + leaf.KeyPem());
  int64_t first_raw = 0;
  {
    auto deadline = steady_clock::now() + seconds(30);
    while (first_raw == 0 && steady_clock::now() < deadline) {
      zmq::pollitem_t item{raw.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, milliseconds(200));
      std::vector<zmq::message_t> frames;
      if (zmq::recv_multipart(raw, std::back_inserter(frames), zmq::recv_flags::dontwait) == 2) {
        first_raw = json::parse(frames[1].to_string_view()).value("seq", int64_t{0});
      }
    }
  }
  ASSERT_EQ(first_raw, 1) << daemon.log();
  ASSERT_TRUE(WaitUntil([&] { return follower.Seqs().size() == 1; }, seconds(30)))
      << follower.Stderr();

  // kEvents changes, each one event (cert.updated), as fast as the control socket takes them.
  follower.Signal(SIGSTOP);
  for (int64_t i = 0; i < kEvents; ++i) {
    auto changed = daemon.control().Request(
        "meta", {{"entry", "bulk.events.test"}, {"set", {{"n", std::to_string(i)}}}});
    ASSERT_TRUE(changed.has_value()) << i << ": " << changed.error().message;
  }
  const int64_t last = 1 + kEvents;
  ASSERT_TRUE(WaitUntil([&] { return daemon.LastSeq(milliseconds(2000)) >= last; }, seconds(600)))
      << "published up to " << daemon.LastSeq(milliseconds(2000)) << " of " << last << "\n"
      << daemon.log();
  EXPECT_EQ(daemon.LastSeq(milliseconds(2000)), last);

  // The raw subscriber wakes up: what the sockets kept, then the rest from the outbox, in the
  // order docs/protocol.md gives (live events above the replayed ones are new).
  std::vector<int64_t> seqs = {first_raw};
  for (;;) {
    std::vector<zmq::message_t> frames;
    auto n = zmq::recv_multipart(raw, std::back_inserter(frames), zmq::recv_flags::dontwait);
    if (!n) break;
    seqs.push_back(json::parse(frames[1].to_string_view()).value("seq", int64_t{0}));
  }
  const size_t received_live = seqs.size();
  EXPECT_LT(received_live, static_cast<size_t>(last) / 2)
      << "the high-water mark dropped nothing: this test would not show a recovery";
  std::vector<int64_t> from_outbox;
  int64_t cursor = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i] > cursor + 1) {
      auto replay = sdk::ReplaySince(daemon.control(), cursor);
      ASSERT_TRUE(replay.has_value()) << replay.error().message;
      EXPECT_FALSE(replay->pruned.has_value());
      for (const auto& event : replay->events) {
        int64_t seq = event.value("seq", int64_t{0});
        if (seq > cursor) from_outbox.push_back(seq);
        cursor = std::max(cursor, seq);
      }
    }
    if (seqs[i] > cursor) {
      from_outbox.push_back(seqs[i]);
      cursor = seqs[i];
    }
  }
  if (cursor < last) {
    auto replay = sdk::ReplaySince(daemon.control(), cursor);
    ASSERT_TRUE(replay.has_value()) << replay.error().message;
    for (const auto& event : replay->events) from_outbox.push_back(event.value("seq", int64_t{0}));
  }
  EXPECT_TRUE(EachSeqOnce(from_outbox, last)) << received_live << " received live";

  // The CLI follower wakes up and catches up by itself.
  follower.Signal(SIGCONT);
  ASSERT_TRUE(
      WaitUntil([&] { return follower.Seqs().size() >= static_cast<size_t>(last); }, seconds(300)))
      << follower.Seqs().size() << " of " << last << " printed\n"
      << follower.Stderr();
  EXPECT_EQ(follower.Stop(SIGTERM), 0);
  EXPECT_TRUE(EachSeqOnce(follower.Seqs(), last)) << follower.Stderr();
}

std::vector<json> Retained(DaemonHarness& daemon, json* reply_out = nullptr) {
  auto reply = daemon.control().Request("events", {{"since", 0}});
  EXPECT_TRUE(reply.has_value()) << (reply ? "" : reply.error().message);
  if (!reply) return {};
  if (reply_out) *reply_out = *reply;
  return (*reply)["events"].get<std::vector<json>>();
}

TEST(EventsTest, RetentionPrunesOnlyWhatEveryCursorHasAcknowledged) {
  DaemonHarness daemon({.bus_toml = "event_retention = \"1s\"\n"});
  ASSERT_TRUE(daemon.Start());
  // A cursor registered before any event holds every event back.
  auto registered = daemon.Cli({"events", "--cursor", "keeper"});
  ASSERT_EQ(registered.exit_code, 0) << registered.err;
  for (int i = 0; i < 3; ++i) {
    Issued leaf = Issue(LeafSpec("keep" + std::to_string(i) + ".retention.test"));
    daemon.Drop("keep" + std::to_string(i) + ".pem", leaf.CertPem() + leaf.KeyPem());
  }
  daemon.WaitForEvents([](const auto& events) { return events.size() >= 3; });
  ASSERT_EQ(Retained(daemon).size(), 3u);
  // That they stay while a cursor needs them, however old, is shown without waiting in
  // tests/daemon/outbox_pruner_test.cc (its clock is moved past the retention).

  // The cursor's reader prints the three and acknowledges them; then they go.
  auto read = daemon.Cli({"events", "--cursor", "keeper", "--json"});
  ASSERT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(std::count(read.out.begin(), read.out.end(), '\n'), 3);
  ASSERT_TRUE(WaitUntil([&] { return Retained(daemon).empty(); }, seconds(15))) << daemon.log();
  json reply;
  Retained(daemon, &reply);
  EXPECT_EQ(reply["pruned"], json({{"from", 1}, {"to", 3}}));
  auto late_reader = daemon.Cli({"events", "--since", "0"});
  EXPECT_EQ(late_reader.exit_code, 0);
  EXPECT_NE(late_reader.err.find("events 1 to 3 were pruned"), std::string::npos)
      << late_reader.err;
  // Read again from the cursor: nothing new, and no warning (it had read them).
  auto again = daemon.Cli({"events", "--cursor", "keeper"});
  EXPECT_EQ(again.out, "");
  EXPECT_EQ(again.err, "");

  // Two cursors: an event stays until the slower one has acknowledged it.
  ASSERT_TRUE(daemon.control().Request("ack", {{"cursor", "slow"}, {"seq", 3}}));
  for (int i = 3; i < 5; ++i) {
    Issued leaf = Issue(LeafSpec("keep" + std::to_string(i) + ".retention.test"));
    daemon.Drop("keep" + std::to_string(i) + ".pem", leaf.CertPem() + leaf.KeyPem());
  }
  daemon.WaitForEvents([](const auto& events) { return events.size() >= 5; });
  ASSERT_TRUE(daemon.Cli({"events", "--cursor", "keeper"}).exit_code == 0);
  EXPECT_EQ(Retained(daemon).size(), 2u) << "pruned although cursor 'slow' still needs them";
  auto cursors = daemon.Cli({"cursors", "--json"});
  ASSERT_EQ(cursors.exit_code, 0) << cursors.err;
  auto printed = json::parse(cursors.out, nullptr, false);
  ASSERT_TRUE(printed.is_object()) << cursors.out;  // an object, like every other --json
  const json& list = printed["cursors"];
  ASSERT_TRUE(list.is_array()) << cursors.out;
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"], "keeper");
  EXPECT_EQ(list[0]["seq"], 5);
  EXPECT_EQ(list[1]["name"], "slow");
  EXPECT_EQ(list[1]["seq"], 3);
  EXPECT_EQ(list[1]["behind"], 2);

  // Forgetting the slow cursor releases them.
  auto deleted = daemon.Cli({"cursors", "--delete", "slow"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_TRUE(WaitUntil([&] { return Retained(daemon).empty(); }, seconds(15))) << daemon.log();
  EXPECT_EQ(daemon.Cli({"cursors", "--delete", "slow"}).exit_code, 1);
  // A cursor cannot acknowledge events that do not exist.
  auto bad = daemon.control().Request("ack", {{"cursor", "keeper"}, {"seq", 999}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, "bad_request");
}

}  // namespace
}  // namespace certinbox::testing
