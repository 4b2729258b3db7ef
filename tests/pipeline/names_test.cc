// The one rule for names: a table of names and the code each gets.
#include "pipeline/names.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace certinbox::pipeline {
namespace {

struct Case {
  std::string text;
  NameKind kind;
  std::string code;  // "" when accepted
};

TEST(NamesTest, EachNameGetsItsCode) {
  using enum NameKind;
  const std::vector<Case> table = {
      {"web", kEntryName, ""},
      {"caf\xc3\xa9 \xe2\x9c\x93", kEntryName, ""},
      {std::string(255, 'n'), kEntryName, ""},
      {std::string(256, 'n'), kEntryName, "bad_name"},
      {std::string(60000, 'g'), kGroup, "bad_name"},
      {"", kEntryName, "bad_name"},
      {"", kLabel, "bad_name"},
      {".", kEntryName, "bad_name"},
      {"..", kGroup, "bad_name"},
      {"...", kEntryName, ""},
      {"../../etc", kEntryName, "bad_name"},
      {"invoice\xe2\x80\xae"
       "gpj.exe",
       kEntryName, "bad_name"},  // U+202E: shows as "exe.jpg"
      {"a\xe2\x80\xa8"
       "b",
       kLabel, "bad_name"},  // U+2028 LINE SEPARATOR
      {"a/b", kEntryName, "bad_name"},
      {"a/b", kGroup, "bad_name"},
      {"a/b", kLabel, ""},
      {"/etc/nginx/web.pem", kResource, ""},
      {"..", kResource, "bad_resource"},
      {std::string("nul\0byte", 8), kEntryName, "bad_name"},
      {"red\x1b[31m", kEntryName, "bad_name"},
      {"forged\r\nrow", kLabel, "bad_name"},
      {"tab\there", kGroup, "bad_name"},
      {"del\x7f", kEntryName, "bad_name"},
      {"c1\xc2\x9b", kEntryName, "bad_name"},    // U+009B, the 8-bit CSI
      {"bad\xff", kEntryName, "bad_name"},       // not UTF-8
      {"over\xc0\xaf", kEntryName, "bad_name"},  // an overlong "/"
      {"line\nbreak", kResource, "bad_resource"},
      {"back\\slash", kEntryName, ""},
  };
  for (const Case& c : table) {
    SCOPED_TRACE(c.text.substr(0, 40));
    auto checked = CheckName(c.text, c.kind);
    if (c.code.empty()) {
      EXPECT_TRUE(checked.has_value()) << checked.error().message;
    } else {
      ASSERT_FALSE(checked.has_value());
      EXPECT_EQ(checked.error().code, c.code);
      // The message never carries the raw bytes it refused.
      EXPECT_EQ(checked.error().message.find('\x1b'), std::string::npos);
      EXPECT_EQ(checked.error().message.find('\n'), std::string::npos);
      EXPECT_LE(checked.error().message.size(), 400u);
    }
  }
}

}  // namespace
}  // namespace certinbox::pipeline
