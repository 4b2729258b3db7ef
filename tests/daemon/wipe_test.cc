// WipeJson and WipeString (daemon/wipe.h): what a reply with key bytes goes through once sent.
#include "daemon/wipe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace certinbox::daemon {
namespace {

using nlohmann::json;

bool AllZero(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == '\0'; });
}

// Every string of the value, in any position, is overwritten with zero bytes; keys, numbers and
// the shape stay (the value is destroyed right after, so only the bytes matter).
TEST(WipeJson, EveryStringIsOverwrittenWherever) {
  const std::string key(3000, 'k');  // on the heap, not in the string object
  const std::vector<json> cases = {
      json("-----BEGIN PRIVATE KEY-----" + key),
      json{{"key_pem", key}, {"version", 3}},
      json{{"entry", {{"name", "web"}, {"nested", json::array({key, "short", 1, nullptr})}}}},
      json::array({json::array({json::array({key})})}),
  };
  for (json value : cases) {
    WipeJson(value);
    std::vector<const json*> pending = {&value};
    while (!pending.empty()) {
      const json* node = pending.back();
      pending.pop_back();
      if (node->is_string()) {
        EXPECT_TRUE(AllZero(node->get<std::string>()));
      }
      if (node->is_structured()) {
        for (const auto& child : *node) pending.push_back(&child);
      }
    }
  }
  json reply = {{"key_pem", key}};
  WipeJson(reply);
  EXPECT_TRUE(reply.contains("key_pem")) << "object keys are the protocol's names: kept";
  EXPECT_EQ(reply["key_pem"].get<std::string>().size(), key.size());
}

TEST(WipeString, TheWholeBufferIsOverwrittenAndEmptied) {
  std::string text(5000, 's');
  text.resize(10);  // the buffer still holds 4990 bytes of the old content
  const char* buffer = text.data();
  WipeString(text);
  EXPECT_TRUE(text.empty());
  EXPECT_EQ(text.data(), buffer) << "wiped in place, not reallocated";
  EXPECT_TRUE(std::all_of(buffer, buffer + 5000, [](char c) { return c == '\0'; }));
}

}  // namespace
}  // namespace certinbox::daemon
