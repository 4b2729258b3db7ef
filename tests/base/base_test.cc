// The bottom library: time and its formatter, hex, Fd and the wire format's names.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>

#include "base/error.h"
#include "base/fd.h"
#include "base/hex.h"
#include "base/time.h"
#include "base/wire.h"

namespace certinbox::base {
namespace {

TEST(FormatRfc3339Test, FormatsUtcSeconds) {
  EXPECT_EQ(FormatRfc3339(UnixTime{0}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(UnixTime{1714566896}), "2024-05-01T12:34:56Z");
  EXPECT_EQ(FormatRfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(1714566896))),
            "2024-05-01T12:34:56Z");
  EXPECT_EQ(FormatRfc3339(UnixTime{-631152000}), "1950-01-01T00:00:00Z");
}

TEST(FormatRfc3339Test, PadsEarlyYearsAndClampsTheImpossible) {
  EXPECT_EQ(FormatRfc3339(UnixTime{-59011459200}), "0100-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(INT64_MAX), "9999-12-31T23:59:59Z");
  EXPECT_EQ(FormatRfc3339(INT64_MIN), "0000-01-01T00:00:00Z");
}

TEST(ClockTest, TheSystemClockIsNow) {
  UnixTime before = UnixNow();
  UnixTime now = SystemClock().Now();
  EXPECT_GE(now, before);
  EXPECT_LE(now, UnixNow());
}

TEST(HexTest, LowercaseTwoDigitsPerByte) {
  EXPECT_EQ(base::HexLower(std::string_view("\x00\x0f\xab\xff", 4)), "000fabff");
  const unsigned char bytes[] = {0x12, 0x9a};
  EXPECT_EQ(base::HexLower(bytes, sizeof bytes), "129a");
  EXPECT_EQ(base::HexLower(std::string_view()), "");
}

TEST(FdTest, ClosesOnScopeExitAndMoves) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    Fd fd(raw);
    Fd moved(std::move(fd));
    EXPECT_FALSE(fd.valid());
    EXPECT_EQ(moved.get(), raw);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);  // closed
}

TEST(FdTest, ReleaseGivesTheDescriptorUpAndCloseReports) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  Fd fd(raw);
  EXPECT_EQ(fd.Release(), raw);
  EXPECT_FALSE(fd.valid());
  EXPECT_NE(::fcntl(raw, F_GETFD), -1);  // still open
  Fd again(raw);
  EXPECT_EQ(again.Close(), 0);
  EXPECT_EQ(again.Close(), 0);  // an empty Fd closes nothing
}

TEST(ErrorTest, FailCarriesCodeAndMessage) {
  Result<int> failed = Fail("bad_thing", "a sentence");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, "bad_thing");
  EXPECT_EQ(failed.error().message, "a sentence");
}

TEST(WireTest, TopicsAreDistinctAndDotted) {
  std::set<std::string> seen;
  for (const char* topic : topic::kAll) {
    EXPECT_NE(std::string(topic).find('.'), std::string::npos) << topic;
    EXPECT_TRUE(seen.insert(topic).second) << topic;
  }
  EXPECT_EQ(seen.size(), std::size(topic::kAll));
}

}  // namespace
}  // namespace certinbox::base
