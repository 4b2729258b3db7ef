#include "daemon/control_args.h"

#include <gtest/gtest.h>

#include <string>

namespace certinbox::daemon {
namespace {

TEST(ShortenTest, KeepsTextThatFits) {
  EXPECT_EQ(Shorten("short", 5), "short");
  EXPECT_EQ(Shorten("", 0), "");
}

TEST(ShortenTest, CutsLongTextAndSaysSo) { EXPECT_EQ(Shorten("abcdefgh", 3), "abc…"); }

// "é" is two bytes and "€" three: a cut inside either backs up to the character's start, so
// what is left is whole characters (valid UTF-8), never a stray lead or continuation byte.
TEST(ShortenTest, NeverSplitsAUtf8Character) {
  const std::string text = "ab\xC3\xA9\xE2\x82\xAC" "cd";  // "abé€cd"
  EXPECT_EQ(Shorten(text, 3), "ab…");                       // inside "é"
  EXPECT_EQ(Shorten(text, 4), "ab\xC3\xA9…");               // right after "é"
  EXPECT_EQ(Shorten(text, 5), "ab\xC3\xA9…");               // inside "€", 1 byte in
  EXPECT_EQ(Shorten(text, 6), "ab\xC3\xA9…");               // inside "€", 2 bytes in
  EXPECT_EQ(Shorten(text, 7), "ab\xC3\xA9\xE2\x82\xAC…");   // right after "€"
}

}  // namespace
}  // namespace certinbox::daemon
