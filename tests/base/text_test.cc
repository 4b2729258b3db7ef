#include "base/text.h"

#include <gtest/gtest.h>

#include <string>

namespace certinbox::base {
namespace {

TEST(ShortenTest, KeepsTextThatFits) {
  EXPECT_EQ(Shorten("short", 5), "short");
  EXPECT_EQ(Shorten("", 0), "");
}

TEST(ShortenTest, CutsLongTextAndSaysSo) { EXPECT_EQ(Shorten("abcdefgh", 3), "abc…"); }

// "é" is two bytes and "€" three: a cut inside either backs up to the character's start, so
// what is left is whole characters (valid UTF-8), never a stray lead or continuation byte.
TEST(ShortenTest, NeverSplitsAUtf8Character) {
  const std::string text =
      "ab\xC3\xA9\xE2\x82\xAC"
      "cd";                                                // "abé€cd"
  EXPECT_EQ(Shorten(text, 3), "ab…");                      // inside "é"
  EXPECT_EQ(Shorten(text, 4), "ab\xC3\xA9…");              // right after "é"
  EXPECT_EQ(Shorten(text, 5), "ab\xC3\xA9…");              // inside "€", 1 byte in
  EXPECT_EQ(Shorten(text, 6), "ab\xC3\xA9…");              // inside "€", 2 bytes in
  EXPECT_EQ(Shorten(text, 7), "ab\xC3\xA9\xE2\x82\xAC…");  // right after "€"
}

TEST(EscapeTest, LeavesPrintableUtf8Alone) {
  EXPECT_EQ(Escape("web-01.example.com"), "web-01.example.com");
  EXPECT_EQ(Escape("caf\xC3\xA9 \xE2\x82\xAC"), "caf\xC3\xA9 \xE2\x82\xAC");
}

TEST(EscapeTest, WritesOutWhatCouldForgeALineOrDriveATerminal) {
  EXPECT_EQ(Escape("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(Escape("\x1B[31mred"), "\\e[31mred");
  EXPECT_EQ(Escape(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(Escape("\x7F"), "\\x7f");
  EXPECT_EQ(Escape("\xC2\x9B"), "\\xc2\\x9b");  // C1 CSI, UTF-8 encoded
  EXPECT_EQ(Escape("back\\slash"), "back\\\\slash");
}

// Found by a hostile test: "invoice\u202Egpj.exe" showed as "invoiceexe.jpg" in `certinbox ls`.
TEST(EscapeTest, WritesOutInvisibleFormatCharacters) {
  // U+202E RIGHT-TO-LEFT OVERRIDE, U+2028 LINE SEPARATOR, U+FEFF BOM, U+200B ZERO WIDTH SPACE
  EXPECT_EQ(Escape("invoice\xE2\x80\xAEgpj.exe"), "invoice\\u202egpj.exe");
  EXPECT_EQ(Escape("a\xE2\x80\xA8"
                   "b"),
            "a\\u2028b");
  EXPECT_EQ(Escape("\xEF\xBB\xBFx"), "\\ufeffx");
  EXPECT_EQ(Escape("a\xE2\x80\x8B"
                   "b"),
            "a\\u200bb");
  EXPECT_FALSE(IsPrintableUtf8("invoice\xE2\x80\xAEgpj.exe"));
  EXPECT_TRUE(IsPrintableUtf8("caf\xC3\xA9 \xE2\x82\xAC"));
}

TEST(EscapeTest, WritesInvalidUtf8AsBytes) {
  EXPECT_EQ(Escape("\xFF"), "\\xff");
  EXPECT_EQ(Escape("\xC0\xAF"), "\\xc0\\xaf");           // overlong "/"
  EXPECT_EQ(Escape("\xED\xA0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(Escape("ab\xE2\x82"), "ab\\xe2\\x82");       // cut short
}

}  // namespace
}  // namespace certinbox::base
