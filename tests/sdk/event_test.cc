#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "plugins/sdk/client.h"

namespace certinbox::sdk {
namespace {

// What a forged or garbled message on the publish socket may hold: none of it may throw, and
// only events the daemon could have published pass (found by the events fuzz target: a string
// seq threw nlohmann's type_error in the plugin's loop, and 1e300 overflowed the conversion).
TEST(EventTest, OnlyEventsTheDaemonCouldPublishPass) {
  struct Row {
    const char* json;
    bool well_formed;
    int64_t seq;
  };
  const Row rows[] = {
      {R"({"seq": 7, "type": "cert.imported"})", true, 7},
      {R"({"seq": 9223372036854775807, "type": "x"})", true, INT64_MAX},
      {R"({"seq": 9223372036854775808, "type": "x"})", false, 0},
      {R"({"seq": 18446744073709551615, "type": "x"})", false, 0},
      {R"({"seq": -1, "type": "x"})", false, 0},
      {R"({"seq": 0, "type": "x"})", false, 0},
      {R"({"seq": "7", "type": "x"})", false, 0},
      {R"({"seq": 1e300, "type": "x"})", false, 0},
      {R"({"seq": 7.5, "type": "x"})", false, 0},
      {R"({"seq": 7, "type": 5})", false, 7},
      {R"({"seq": 7})", false, 7},
      {R"({"type": "x"})", false, 0},
      {R"([1, 2])", false, 0},
      {R"("seq")", false, 0},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.json);
    auto event = nlohmann::json::parse(row.json);
    EXPECT_EQ(WellFormedEvent(event), row.well_formed);
    EXPECT_EQ(EventSeq(event), row.seq);
  }
}

}  // namespace
}  // namespace certinbox::sdk
