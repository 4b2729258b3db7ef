// Control requests from a stranger against the real daemon over its real control socket: each
// request has a byte and a depth budget, every integer argument a range, stored metadata a
// budget, and an `events` reply a byte budget that paging goes on from.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "plugins/sdk/limits.h"
#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/test_ca.h"

namespace certinbox::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// Sends `text` as it is (no JSON encoding by the client) on a new REQ socket and returns the
// reply, or nothing when none comes within `deadline`.
std::optional<json> Raw(DaemonHarness& daemon, const std::string& text,
                        milliseconds deadline = milliseconds(10000)) {
  static zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::req);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(daemon.control_endpoint());
  socket.send(zmq::buffer(text), zmq::send_flags::none);
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, deadline) <= 0) return std::nullopt;
  zmq::message_t reply;
  if (!socket.recv(reply, zmq::recv_flags::none)) return std::nullopt;
  return json::parse(reply.to_string_view(), nullptr, false);
}

// The reply's error code, "" for a reply without an error, "no reply" for none.
std::string CodeOf(const std::optional<json>& reply) {
  if (!reply) return "no reply";
  if (!reply->is_object()) return "not an object";
  if (!reply->contains("error")) return "";
  return (*reply)["error"].value("code", "?");
}

std::string Nested(int depth, const std::string& inner = "1") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

// A daemon holding one entry, "web".
class RequestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.Start());
    Issued leaf = Issue(LeafSpec("www.requests.test"));
    daemon_.Drop("web.toml", "name = \"web\"\n");
    daemon_.Drop("web.pem", leaf.CertPem() + leaf.KeyPem());
    daemon_.WaitForEvents(HasEvents("cert.imported", 1));
    ASSERT_EQ(daemon_.EventsOfType("cert.imported").size(), 1u) << daemon_.log();
  }

  // The daemon still answers and has not died.
  void ExpectServing() {
    auto status = daemon_.control().Request("status");
    EXPECT_TRUE(status.has_value()) << (status ? "" : status.error().message) << daemon_.log();
  }

  DaemonHarness daemon_;
};

TEST_F(RequestsTest, DeepRequestsAreBadRequestsAndTheDaemonKeepsServing) {
  const std::string meta = R"({"op": "meta", "entry": "web", "set": {"deep": )";
  struct Case {
    std::string what;
    std::string request;
    std::string code;
  };
  const std::vector<Case> cases = {
      // Finding 2: 60,000 deep crashed the daemon, 40,000 deep was stored.
      {"meta set 60,000 deep", meta + Nested(60000) + "}}", "bad_request"},
      {"meta set 40,000 deep", meta + Nested(40000) + "}}", "bad_request"},
      {"a request 33 deep", R"({"op": "status", "x": )" + Nested(32) + "}", "bad_request"},
      {"objects 100,000 deep",
       R"({"op": "status", "x": )" +
           [] {
             std::string s;
             for (int i = 0; i < 100000; ++i) s += "{\"a\":";
             return s + "1" + std::string(100000, '}');
           }() +
           "}",
       "bad_request"},
      // Within the budget: 32 deep, and brackets inside strings do not count.
      {"a request 32 deep", R"({"op": "status", "x": )" + Nested(31) + "}", ""},
      {"brackets in a string", R"({"op": "status", "x": ")" + std::string(5000, '[') + "\\\"[\"}",
       ""},
  };
  for (const Case& c : cases) {
    auto reply = Raw(daemon_, c.request);
    EXPECT_EQ(CodeOf(reply), c.code) << c.what;
    ExpectServing();
  }
  // Nothing deep was stored.
  auto shown = daemon_.control().Request("show", {{"entry", "web"}});
  ASSERT_TRUE(shown.has_value());
  EXPECT_FALSE((*shown)["entry"].value("metadata", json::object()).contains("deep"));
}

TEST_F(RequestsTest, AFrameOverTheSizeLimitIsDroppedAndTheDaemonKeepsServing) {
  // A frame over kMaxRequestBytes: libzmq drops that connection, so no reply comes. The client's
  // socket monitor shows the disconnect, so the test waits on an event, not a clock.
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  ASSERT_EQ(zmq_socket_monitor(socket.handle(), "inproc://requests-monitor",
                               ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED),
            0);
  zmq::socket_t monitor(context, zmq::socket_type::pair);
  monitor.connect("inproc://requests-monitor");
  socket.connect(daemon_.control_endpoint());
  const std::string big =
      R"({"op": "show", "entry": ")" + std::string(sdk::kMaxRequestBytes, 'x') + "\"}";
  socket.send(zmq::message_t(), zmq::send_flags::sndmore);
  socket.send(zmq::buffer(big), zmq::send_flags::none);

  bool disconnected = false;
  bool replied = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!disconnected && !replied && std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t items[] = {{monitor.handle(), 0, ZMQ_POLLIN, 0},
                               {socket.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, milliseconds(500));
    if (items[0].revents & ZMQ_POLLIN) {
      zmq::message_t event, address;
      ASSERT_TRUE(monitor.recv(event, zmq::recv_flags::none));
      if (event.more()) (void)monitor.recv(address, zmq::recv_flags::none);
      uint16_t id = 0;
      std::memcpy(&id, event.data(), sizeof(id));
      if (id == ZMQ_EVENT_DISCONNECTED) disconnected = true;
    }
    if (items[1].revents & ZMQ_POLLIN) replied = true;
  }
  EXPECT_TRUE(disconnected) << "a frame over the limit must drop the connection";
  EXPECT_FALSE(replied) << "a frame over the limit was read and answered";
  ExpectServing();

  // The SDK says so before sending instead of waiting for a reply that cannot come.
  auto refused =
      daemon_.control().Request("show", {{"entry", std::string(sdk::kMaxRequestBytes, 'x')}});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, "request_too_large");
  ExpectServing();
}

TEST_F(RequestsTest, ErrorRepliesEchoAShortenedRequest) {
  // Finding 6: a 50 MB entry was echoed back whole; now every echo is cut.
  const std::string long_text(900 * 1024, 'x');
  struct Case {
    std::string what;
    json request;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"show of a long entry", {{"op", "show"}, {"entry", long_text}}, "not_found"},
      {"meta of a long entry",
       {{"op", "meta"}, {"entry", long_text}, {"description", "d"}},
       "not_found"},
      {"a long op", {{"op", long_text}}, "bad_request"},
      {"a long plugin name",
       {{"op", "plugin.hello"}, {"plugin", long_text}, {"token", "t"}},
       "unknown_plugin"},
  };
  for (const Case& c : cases) {
    auto reply = Raw(daemon_, c.request.dump());
    ASSERT_EQ(CodeOf(reply), c.code) << c.what;
    // The echo is cut to base::kMaxEchoBytes (256) plus the sentence around it.
    EXPECT_LE((*reply)["error"]["message"].get<std::string>().size(), 600u) << c.what;
  }
  EXPECT_LE(daemon_.log().size(), 64u * 1024) << "the log echoed a request whole";
  ExpectServing();
}

TEST_F(RequestsTest, IntegerArgumentsOutOfRangeOrOfTheWrongTypeAreBadRequests) {
  // Finding 8. The raw text, so that numbers beyond int64 reach the daemon as they were written.
  struct Case {
    std::string request;
    std::string code;
  };
  const std::vector<Case> cases = {
      {R"({"op": 5})", "bad_request"},
      {R"({"op": ["status"]})", "bad_request"},
      {R"({"op": "events", "since": 18446744073709551615})", "bad_request"},
      {R"({"op": "events", "since": 9223372036854775808})", "bad_request"},
      {R"({"op": "events", "since": -1})", "bad_request"},
      {R"({"op": "events", "since": 1.5})", "bad_request"},
      {R"({"op": "events", "since": "1"})", "bad_request"},
      {R"({"op": "events", "since": 9223372036854775807})", ""},
      {R"({"op": "events", "limit": -1})", "bad_request"},
      {R"({"op": "events", "limit": 0})", "bad_request"},
      {R"({"op": "events", "limit": 18446744073709551615})", "bad_request"},
      {R"({"op": "events", "limit": 10001})", "bad_request"},
      {R"({"op": "events", "limit": true})", "bad_request"},
      {R"({"op": "events", "limit": 1})", ""},
      {R"({"op": "events", "limit": 10000})", ""},
      {R"({"op": "ls", "expiring_within": 9223372036854775807})", "bad_request"},
      {R"({"op": "ls", "expiring_within": -1})", "bad_request"},
      {R"({"op": "ls", "expiring_within": 3155760001})", "bad_request"},
      {R"({"op": "ls", "expiring_within": 3155760000})", ""},
      {R"({"op": "ack", "cursor": "c", "seq": 18446744073709551615})", "bad_request"},
      {R"({"op": "ack", "cursor": "c", "seq": -1})", "bad_request"},
      {R"({"op": "rollback", "entry": "web", "to": 18446744073709551615})", "bad_request"},
      {R"({"op": "rollback", "entry": "web", "to": 0})", "bad_request"},
      {R"({"op": "meta", "entry": "web", "version": 0, "set": {"a": 1}})", "bad_request"},
      {R"({"op": "meta", "entry": "web", "version": 18446744073709551615, "set": {"a": 1}})",
       "bad_request"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CodeOf(Raw(daemon_, c.request)), c.code) << c.request;
  }
  // `since` beyond the outbox reports the daemon's last seq, not the client's number.
  auto reply = Raw(daemon_, R"({"op": "events", "since": 9223372036854775807})");
  ASSERT_EQ(CodeOf(reply), "");
  EXPECT_LT((*reply)["last_seq"].get<int64_t>(), 1000) << reply->dump();
  EXPECT_TRUE((*reply)["events"].empty());
  // The widest `expiring_within` finds the entry (2^63-1 used to wrap and find nothing).
  reply = Raw(daemon_, R"({"op": "ls", "expiring_within": 3155760000})");
  ASSERT_EQ(CodeOf(reply), "");
  EXPECT_EQ((*reply)["entries"].size(), 1u) << reply->dump();
  ExpectServing();
}

TEST_F(RequestsTest, APkcs12PasswordWithANulIsRefusedNotCutShort) {
  // OpenSSL reads the password as a C string: "\u0000secret" would protect the key with "".
  for (const char* password : {R"(\u0000secret)", R"(a\u0000b)"}) {
    const std::string request = std::string(R"({"op": "export", "entry": "web", "pfx": true, )") +
                                R"("password": ")" + password + R"("})";
    auto reply = Raw(daemon_, request);
    EXPECT_EQ(CodeOf(reply), "bad_request") << request;
    EXPECT_FALSE(reply && reply->contains("pkcs12_base64")) << request;
  }
  EXPECT_EQ(
      CodeOf(Raw(daemon_, R"({"op": "export", "entry": "web", "pfx": true, "password": "ok"})")),
      "");
}

TEST_F(RequestsTest, StoredMetadataHasABudget) {
  auto keys = [](int n) {
    json set = json::object();
    for (int i = 0; i < n; ++i) set["k" + std::to_string(i)] = i;
    return set;
  };
  auto arrays = [](int depth) { return json::parse(Nested(depth)); };
  json labels = json::array();
  for (int i = 0; i < 257; ++i) labels.push_back("label-" + std::to_string(i));
  struct Case {
    std::string what;
    json request;
    std::string code;
  };
  // The metadata object is depth 1: a value directly in it nests at most 7 arrays.
  const std::vector<Case> cases = {
      {"8 arrays deep", {{"set", {{"v", arrays(8)}}}}, "bad_request"},
      {"257 keys", {{"set", keys(257)}}, "bad_request"},
      {"over 64 KiB", {{"set", {{"big", std::string(70000, 'b')}}}}, "bad_request"},
      {"a description over 4 KiB", {{"description", std::string(5000, 'd')}}, "bad_request"},
      {"257 labels", {{"add_labels", labels}}, "bad_request"},
      {"7 arrays deep", {{"set", {{"v", arrays(7)}}}}, ""},
      {"256 keys (with v)", {{"set", keys(255)}}, ""},
      {"a key more", {{"set", {{"one_more", 1}}}}, "bad_request"},
      {"unset and set", {{"unset", {"k0"}}, {"set", {{"one_more", 1}}}}, ""},
      {"a description at the limit", {{"description", std::string(4096, 'd')}}, ""},
  };
  for (const Case& c : cases) {
    json request = c.request;
    request["op"] = "meta";
    request["entry"] = "web";
    EXPECT_EQ(CodeOf(Raw(daemon_, request.dump())), c.code) << c.what;
  }
  // csr.create keeps the same limits on the entry it makes (refused before any key is made).
  EXPECT_EQ(CodeOf(Raw(daemon_, json{{"op", "csr.create"},
                                     {"name", "many-labels"},
                                     {"cn", "many.requests.test"},
                                     {"labels", labels}}
                                    .dump())),
            "bad_request");
  EXPECT_EQ(CodeOf(Raw(daemon_, json{{"op", "csr.create"},
                                     {"name", "long-description"},
                                     {"cn", "long.requests.test"},
                                     {"description", std::string(5000, 'd')}}
                                    .dump())),
            "bad_request");
  ExpectServing();
}

// Found by a hostile test: add_labels was deduplicated by a linear search per label before the
// 256-label limit was checked, so 90,000 labels (under the 1 MiB frame) held the loop for minutes
// and SIGTERM with it. Now the count is checked first: the reply is at once, and a status asked
// right after it is answered.
TEST_F(RequestsTest, ThousandsOfLabelsInOneChangeAreRefusedBeforeAnyWork) {
  json many = json::array();
  for (int i = 0; i < 60000; ++i) many.push_back("l" + std::to_string(i));
  for (const char* key : {"add_labels", "remove_labels"}) {
    json request = {{"op", "meta"}, {"entry", "web"}, {key, many}};
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(CodeOf(Raw(daemon_, request.dump(), milliseconds(60000))), "bad_request") << key;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20)) << key;
  }
  json unset = json::array();
  for (int i = 0; i < 257; ++i) unset.push_back("k" + std::to_string(i));
  EXPECT_EQ(CodeOf(Raw(daemon_, json{{"op", "meta"}, {"entry", "web"}, {"unset", unset}}.dump())),
            "bad_request");
  ExpectServing();
}

// Found by a hostile test: ZMQ_MAXMSGSIZE bounds each frame, not a message, and the reply echoed
// every frame before the body: 300 frames of 1 MB took the daemon to 512 MB and came back whole.
// A request is at most identity, delimiter and body; more frames are dropped unanswered.
TEST_F(RequestsTest, ARequestOfManyFramesIsDroppedUnanswered) {
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(daemon_.control_endpoint());
  const std::string filler(1000, 'f');
  for (int i = 0; i < 20; ++i) socket.send(zmq::buffer(filler), zmq::send_flags::sndmore);
  socket.send(zmq::buffer(std::string(R"({"op": "status"})")), zmq::send_flags::none);
  // The daemon answers in order on one connection: a status sent after it is answered, and the
  // many-frame request got nothing before that answer.
  socket.send(zmq::buffer(std::string(R"({"op": "status"})")), zmq::send_flags::none);
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  ASSERT_GT(zmq::poll(&item, 1, milliseconds(10000)), 0);
  std::vector<zmq::message_t> frames;
  ASSERT_TRUE(zmq::recv_multipart(socket, std::back_inserter(frames)));
  ASSERT_EQ(frames.size(), 1u) << "the reply to the many-frame request echoed its frames";
  auto reply = json::parse(frames[0].to_string_view(), nullptr, false);
  EXPECT_TRUE(reply.contains("pid")) << reply.dump();
  EXPECT_EQ(zmq::poll(&item, 1, milliseconds(500)), 0) << "a second reply came";
  ExpectServing();
}

TEST(RequestsSidecarTest, SidecarMetadataOverTheBudgetIsABadSidecar) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  std::string many_keys = "[metadata]\n";
  for (int i = 0; i < 300; ++i) many_keys += "k" + std::to_string(i) + " = 1\n";
  // Found by a hostile test: a 46 KB sidecar stored 6,000 labels on one entry.
  std::string many_labels = "labels = [";
  for (int i = 0; i < 257; ++i) many_labels += "\"l" + std::to_string(i) + "\", ";
  many_labels += "]\n";
  struct Case {
    std::string name;
    std::string sidecar;
    std::string reason;  // "" = imported
  };
  const std::vector<Case> cases = {
      {"deep", "[metadata]\nv = " + Nested(8) + "\n", "bad_sidecar"},
      {"keys", many_keys, "bad_sidecar"},
      {"labels", many_labels, "bad_sidecar"},
      {"description", "description = \"" + std::string(5000, 'd') + "\"\n", "bad_sidecar"},
      {"fine", "[metadata]\nv = " + Nested(6) + "\n", ""},
  };
  for (const Case& c : cases) {
    Issued leaf = Issue(LeafSpec(c.name + ".requests.test"));
    daemon.Drop(c.name + ".toml", "name = \"" + c.name + "\"\n" + c.sidecar);
    daemon.Drop(c.name + ".pem", leaf.CertPem());
  }
  daemon.WaitForEvents(
      [&](const std::vector<json>& events) { return events.size() >= cases.size(); });
  for (const Case& c : cases) {
    std::string reason = "missing";
    for (const json& event : daemon.EventsOfType("import.rejected")) {
      if (event.dump().find(c.name + ".pem") != std::string::npos)
        reason = event.value("reason", "?");
    }
    for (const json& event : daemon.EventsOfType("cert.imported")) {
      if (event["certificate"].value("name", "") == c.name) reason = "";
    }
    EXPECT_EQ(reason, c.reason) << c.name << "\n" << daemon.log();
  }
}

TEST_F(RequestsTest, EventsRepliesHaveAByteBudgetAndPagingGoesOn) {
  // Finding 6: 100 events of 900 KB made one `events` reply 90 MB. Here each cert.updated
  // carries 256 labels of 240 bytes (~60 KB), and 80 of them pass the 4 MiB budget.
  json labels = json::array();
  for (int i = 0; i < 256; ++i) {
    std::string label = "l" + std::to_string(i) + "-";
    labels.push_back(label + std::string(240 - label.size(), 'x'));
  }
  auto added = daemon_.control().Request("meta", {{"entry", "web"}, {"add_labels", labels}});
  ASSERT_TRUE(added.has_value()) << added.error().message;
  constexpr int kUpdates = 80;
  for (int i = 0; i < kUpdates; ++i) {
    auto changed = daemon_.control().Request(
        "meta", {{"entry", "web"}, {"description", "update " + std::to_string(i)}});
    ASSERT_TRUE(changed.has_value()) << changed.error().message;
  }
  auto last = daemon_.control().Request("status");
  ASSERT_TRUE(last.has_value());
  const int64_t last_seq = (*last)["last_seq"];

  auto page = Raw(daemon_, R"({"op": "events", "since": 0, "limit": 10000})");
  ASSERT_EQ(CodeOf(page), "");
  EXPECT_LE(page->dump().size(), sdk::kMaxEventsReplyBytes + 64 * 1024);
  EXPECT_TRUE((*page)["more"].get<bool>());
  EXPECT_LT((*page)["scanned_to"].get<int64_t>(), last_seq);
  EXPECT_EQ((*page)["events"].back()["seq"], (*page)["scanned_to"]);

  // The SDK pages on from scanned_to and gets every event, in order, without a gap.
  auto all = sdk::EventsSince(daemon_.control(), 0);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(static_cast<int64_t>(all->size()), last_seq);
  for (size_t i = 0; i < all->size(); ++i) EXPECT_EQ((*all)[i]["seq"], static_cast<int64_t>(i + 1));

  // So does the CLI.
  CommandResult cli = daemon_.Cli({"events", "--since", "0", "--json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(std::count(cli.out.begin(), cli.out.end(), '\n'), last_seq);
}

}  // namespace
}  // namespace certinbox::testing
