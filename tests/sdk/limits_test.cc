// NestingWithin: the daemon's check of a request's depth before it is parsed.
#include "plugins/sdk/limits.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace certinbox::sdk {
namespace {

std::string Arrays(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(LimitsTest, NestingWithinCountsArraysAndObjectsOutsideStrings) {
  struct Case {
    std::string what;
    std::string text;
    int max_depth;
    bool within;
  };
  const std::vector<Case> cases = {
      {"empty", "", 1, true},
      {"a scalar", "5", 0, true},
      {"an object", R"({"op": "status"})", 1, true},
      {"an object, max 0", R"({"op": "status"})", 0, false},
      {"arrays at the limit", Arrays(32), 32, true},
      {"arrays one over", Arrays(33), 32, false},
      {"60,000 deep", Arrays(60000), 32, false},
      {"siblings do not add up", "[" + Arrays(31) + "," + Arrays(31) + "]", 32, true},
      {"mixed objects and arrays", R"({"a": [{"b": [{"c": []}]}]})", 5, false},
      {"mixed, at the limit", R"({"a": [{"b": [{"c": 1}]}]})", 5, true},
      {"brackets in a string", "[\"" + std::string(100, '[') + "\"]", 1, true},
      {"an escaped quote keeps the string open", R"(["\"[[[["])", 1, true},
      {"an escaped backslash closes it", R"(["\\", [[]]])", 2, false},
      {"closers before openers", "]]]]" + Arrays(3), 2, false},
      {"unterminated string", "[\"[[[[", 1, true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NestingWithin(c.text, c.max_depth), c.within) << c.what;
  }
}

}  // namespace
}  // namespace certinbox::sdk
