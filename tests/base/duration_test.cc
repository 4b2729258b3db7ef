// The one duration grammar of the config, the CLI and plugin options.
#include "base/duration.h"

#include <gtest/gtest.h>

namespace certinbox::base {
namespace {

TEST(BaseDurationTest, EachUnit) {
  EXPECT_EQ(ParseDuration("250ms")->count(), 250);
  EXPECT_EQ(ParseDuration("90s")->count(), 90'000);
  EXPECT_EQ(ParseDuration("15m")->count(), 900'000);
  EXPECT_EQ(ParseDuration("12h")->count(), 43'200'000);
  EXPECT_EQ(ParseDuration("30d")->count(), 2'592'000'000);
  EXPECT_EQ(ParseDuration("2w")->count(), 1'209'600'000);
  EXPECT_EQ(ParseDuration("0s")->count(), 0);
}

TEST(BaseDurationTest, EverythingElseIsRefusedWithTheAcceptedForms) {
  for (const char* text : {"", "30", "s", "-5s", "+5s", "1.5s", " 5s", "5s ", "5 s", "5y", "5sec",
                           "5S", "37000d", "99999999999999999999s"}) {
    auto parsed = ParseDuration(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code, "bad_duration") << text;
    EXPECT_NE(parsed.error().message.find("250ms, 90s, 15m, 12h, 30d or 2w"), std::string::npos)
        << parsed.error().message;
  }
  EXPECT_NE(ParseDuration("30").error().message.find("(no unit)"), std::string::npos);
}

TEST(BaseDurationTest, WholeSeconds) {
  EXPECT_EQ(*ParseDurationSeconds("2000ms"), 2);
  EXPECT_EQ(*ParseDurationSeconds("1h"), 3600);
  EXPECT_FALSE(ParseDurationSeconds("1500ms"));
  EXPECT_FALSE(ParseDurationSeconds("90"));
}

}  // namespace
}  // namespace certinbox::base
