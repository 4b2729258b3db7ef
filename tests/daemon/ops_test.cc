// The control ops without a daemon process: the argument readers (a table of malformed
// arguments, each answered bad_request, never an exception), the registry's dispatch, and op
// groups on a real SQLite inventory and a real PUB socket with a clock the test sets.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "base/error_codes.h"
#include "base/time.h"
#include "daemon/ops/events.h"
#include "daemon/ops/registry.h"
#include "daemon/ops/request.h"
#include "daemon/ops/versions.h"
#include "daemon/publisher.h"
#include "storage/inventory.h"
#include "storage/vault.h"
#include "tests/testing/manual_clock.h"
#include "tests/testing/temp_dir.h"

namespace certinbox::daemon::ops {
namespace {

using nlohmann::json;

constexpr base::UnixTime kStart = 1795424400;  // 2026-11-23T09:00:00Z

// Answers `body` through the registry and returns the reply (ops here reply at once).
json Ask(const OpRegistry& registry, const json& body, const ControlServer::Peer& peer = {}) {
  json answer;
  bool replied = false;
  registry.Dispatch(Request(body, peer), [&](json reply) {
    answer = std::move(reply);
    replied = true;
  });
  EXPECT_TRUE(replied) << body.dump();
  return answer;
}

std::string CodeOf(const json& reply) {
  return reply.contains("error") ? reply["error"].value("code", "") : "";
}

// Each reader, given a malformed argument, returns bad_request with a sentence naming it.
TEST(RequestTest, MalformedArgumentsAreBadRequestNotExceptions) {
  const ControlServer::Peer peer;
  struct Case {
    json body;
    std::function<std::optional<base::Error>(const Request&)> read;
  };
  auto error = [](const auto& result) -> std::optional<base::Error> {
    if (result) return std::nullopt;
    return result.error();
  };
  const std::vector<Case> cases = {
      {{{"entry", 5}}, [&](const Request& r) { return error(r.String("entry")); }},
      {{{"entry", ""}}, [&](const Request& r) { return error(r.RequiredString("entry")); }},
      {json::object(), [&](const Request& r) { return error(r.RequiredString("entry")); }},
      {{{"seq", "7"}}, [&](const Request& r) { return error(r.Int("seq", 0, 10)); }},
      {{{"seq", 1.5}}, [&](const Request& r) { return error(r.Int("seq", 0, 10)); }},
      {{{"seq", -1}}, [&](const Request& r) { return error(r.Int("seq", 0, 10)); }},
      {{{"seq", 11}}, [&](const Request& r) { return error(r.Int("seq", 0, 10)); }},
      {{{"seq", UINT64_MAX}}, [&](const Request& r) { return error(r.Int("seq", -1, kMaxSeq)); }},
      {json::object(), [&](const Request& r) { return error(r.RequiredInt("to", 1, 9, "v")); }},
      {{{"key", "yes"}}, [&](const Request& r) { return error(r.Bool("key")); }},
      {json::object(), [&](const Request& r) { return error(r.RequiredBool("ok", "done")); }},
      {{{"labels", {1, 2}}}, [&](const Request& r) { return error(r.Strings("labels")); }},
      {{{"labels", {{"a", 1}}}}, [&](const Request& r) { return error(r.Strings("labels")); }},
      {{{"set", {1}}}, [&](const Request& r) { return error(r.Object("set", "an object")); }},
  };
  for (const Case& c : cases) {
    const Request request(c.body, peer);
    std::optional<base::Error> failed;
    ASSERT_NO_THROW(failed = c.read(request)) << c.body.dump();
    ASSERT_TRUE(failed) << c.body.dump();
    EXPECT_EQ(failed->code, base::code::kBadRequest) << c.body.dump();
    EXPECT_FALSE(failed->message.empty());
  }
}

TEST(RequestTest, ReadsWhatIsThere) {
  const ControlServer::Peer peer;
  const json body = {{"entry", "web"},  {"seq", 7},           {"key", true},
                     {"labels", "one"}, {"sans", {"a", "b"}}, {"gone", nullptr}};
  const Request request(body, peer);
  EXPECT_EQ(**request.String("entry"), "web");
  EXPECT_EQ(*request.RequiredString("entry"), "web");
  EXPECT_EQ(**request.Int("seq", 0, 10), 7);
  EXPECT_EQ(**request.Bool("key"), true);
  EXPECT_EQ(**request.Strings("labels"), std::vector<std::string>{"one"});
  EXPECT_EQ(request.Strings("sans")->value().size(), 2u);
  EXPECT_FALSE(*request.String("gone"));  // null is absent
  EXPECT_FALSE(*request.Int("missing", 0, 1));
}

TEST(RequestTest, FirstErrorIsTheFirstInOrder) {
  const ControlServer::Peer peer;
  const json body = {{"a", 1}, {"b", "x"}};
  const Request request(body, peer);
  auto a = request.String("a");
  auto b = request.Int("b", 0, 1);
  auto c = request.String("c");
  ASSERT_TRUE(base::FirstError(a, b));
  EXPECT_NE(base::FirstError(a, b)->message.find("'a'"), std::string::npos);
  EXPECT_NE(base::FirstError(c, b)->message.find("'b'"), std::string::npos);
  EXPECT_FALSE(base::FirstError(c));
}

TEST(OpRegistryTest, DispatchesByNameAndRefusesWhatItCannotRead) {
  OpRegistry registry;
  registry.Add("echo", [](const Request& request) -> base::Result<json> {
    auto text = request.RequiredString("text");
    if (!text) return std::unexpected(text.error());
    return json{{"text", *text}};
  });
  registry.Add("fail", [](const Request&) -> base::Result<json> {
    return base::Fail(base::code::kNotFound, "no such thing");
  });
  EXPECT_EQ(Ask(registry, {{"op", "echo"}, {"text", "hi"}}), (json{{"text", "hi"}}));
  EXPECT_EQ(CodeOf(Ask(registry, {{"op", "echo"}})), base::code::kBadRequest);
  EXPECT_EQ(CodeOf(Ask(registry, {{"op", "echo"}, {"text", 3}})), base::code::kBadRequest);
  EXPECT_EQ(CodeOf(Ask(registry, {{"op", "fail"}})), base::code::kNotFound);
  // A non-string op is the client's mistake, not an internal error.
  for (const json& op : {json(5), json::array(), json::object(), json(true)}) {
    EXPECT_EQ(CodeOf(Ask(registry, {{"op", op}})), base::code::kBadRequest) << op.dump();
  }
  const json unknown = Ask(registry, {{"op", "nope"}});
  EXPECT_EQ(CodeOf(unknown), base::code::kBadRequest);
  EXPECT_NE(unknown["error"]["message"].get<std::string>().find("echo, fail"), std::string::npos);
  EXPECT_EQ(registry.Names(), (std::vector<std::string>{"echo", "fail"}));
}

// Ops on a real inventory (SQLite in a temporary folder) and a real PUB socket.
class OpGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto vault = storage::Vault::OpenOrCreate(dir_ / "master.key");
    ASSERT_TRUE(vault) << vault.error().message;
    auto inventory = storage::Inventory::Open(dir_ / "inventory.db", std::move(*vault),
                                              storage::InventoryOptions{});
    ASSERT_TRUE(inventory) << inventory.error().message;
    inventory_ = std::move(*inventory);
    auto publisher = Publisher::Bind(zmq_, "ipc://" + (dir_ / "pub").string(), 1000);
    ASSERT_TRUE(publisher) << publisher.error().message;
    publisher_ = std::move(*publisher);
    registry_.Install(std::make_unique<EventOps>(*inventory_, *publisher_, clock_));
    registry_.Install(std::make_unique<VersionOps>(*inventory_, *publisher_, clock_));
  }

  testing::TempDir dir_;
  zmq::context_t zmq_;
  testing::ManualClock clock_{kStart};
  std::unique_ptr<storage::Inventory> inventory_;
  std::unique_ptr<Publisher> publisher_;
  OpRegistry registry_;
};

TEST_F(OpGroupTest, AckStoresTheCursorAtTheClocksTime) {
  json acked = Ask(registry_, {{"op", "ack"}, {"cursor", "deploy"}, {"seq", 0}});
  ASSERT_FALSE(acked.contains("error")) << acked.dump();
  EXPECT_EQ(acked, (json{{"cursor", "deploy"}, {"seq", 0}}));
  clock_.Advance(3600);
  ASSERT_FALSE(Ask(registry_, {{"op", "ack"}, {"cursor", "deploy"}, {"seq", 0}}).contains("error"));
  const json cursors = Ask(registry_, {{"op", "cursors"}})["cursors"];
  ASSERT_EQ(cursors.size(), 1u);
  EXPECT_EQ(cursors[0]["created_at"], base::FormatRfc3339(kStart));
  EXPECT_EQ(cursors[0]["updated_at"], base::FormatRfc3339(kStart + 3600));
}

TEST_F(OpGroupTest, MalformedRequestsAreBadRequest) {
  const std::vector<json> requests = {
      {{"op", "ack"}, {"cursor", "deploy"}},                    // no seq
      {{"op", "ack"}, {"cursor", "no spaces"}, {"seq", 1}},     // bad cursor name
      {{"op", "ack"}, {"cursor", "deploy"}, {"seq", "1"}},      // seq not a number
      {{"op", "events"}, {"since", 1}, {"cursor", "deploy"}},   // both
      {{"op", "events"}, {"limit", 0}},                         // below range
      {{"op", "events"}, {"type", 7}},                          // not a string
      {{"op", "cursor.delete"}},                                // no cursor
      {{"op", "rollback"}, {"entry", "web"}},                   // no `to`
      {{"op", "rollback"}, {"entry", "web"}, {"to", 0}},        // out of range
      {{"op", "meta"}, {"entry", "web"}, {"set", {1, 2}}},      // set not an object
      {{"op", "meta"}, {"entry", "web"}, {"add_labels", {1}}},  // labels not strings
      {{"op", "meta"}, {"entry", "web"}, {"version", -3}},      // out of range
  };
  for (const json& request : requests) {
    EXPECT_EQ(CodeOf(Ask(registry_, request)), base::code::kBadRequest) << request.dump();
  }
  EXPECT_EQ(CodeOf(Ask(registry_, {{"op", "cursor.delete"}, {"cursor", "never"}})),
            base::code::kNotFound);
  EXPECT_EQ(CodeOf(Ask(registry_, {{"op", "rollback"}, {"entry", "web"}, {"to", 1}})),
            base::code::kNotFound);
}

}  // namespace
}  // namespace certinbox::daemon::ops
