#include "watchers/fs_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error_codes.h"
#include "base/fd.h"
#include "tests/testing/files.h"
#include "tests/testing/temp_dir.h"

namespace certinbox::watchers {
namespace {
namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

TEST(JsonStringTest, EscapesQuotesBackslashesAndControls) {
  struct Case {
    std::string input;
    std::string expected;
  };
  const Case cases[] = {
      {"plain.pem", R"("plain.pem")"},
      {"say \"hi\"", R"("say \"hi\"")"},
      {"back\\slash", R"("back\\slash")"},
      {"line\nbreak\ttab\rret", R"("line\nbreak\ttab\rret")"},
      {std::string("nul\0byte", 8), R"("nul\u0000byte")"},
      {"\x01\x1f\x7f\b\f", R"("\u0001\u001f\u007f\b\f")"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92",
       "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92\""},
      {"bad\xff", R"("bad\ufffd")"},
      {"trunc\xe2\x82", R"("trunc\ufffd\ufffd")"},
      {"overlong\xc0\xaf", R"("overlong\ufffd\ufffd")"},
      {"surrogate\xed\xa0\x80", R"("surrogate\ufffd\ufffd\ufffd")"},
  };
  for (const Case& c : cases) {
    std::string json = JsonString(c.input);
    EXPECT_EQ(json, c.expected) << c.input;
    EXPECT_TRUE(nlohmann::json::accept(json)) << json;
  }
}

TEST(JsonStringTest, RoundTripsValidText) {
  std::string text = "a \"b\" \\ c\n\x02 caf\xc3\xa9";
  EXPECT_EQ(nlohmann::json::parse(JsonString(text)).get<std::string>(), text);
}

TEST(SuffixedTest, AddsNumberAfterFirst) {
  EXPECT_EQ(Suffixed("web.pem", 0), "web.pem");
  EXPECT_EQ(Suffixed("web.pem", 1), "web.pem.1");
  EXPECT_EQ(Suffixed("web.pem", 12), "web.pem.12");
}

// Expected digests: printf '%s' NAME | sha256sum | cut -c1-8.
TEST(ShortenedNameTest, KeepsAPrefixTheHashAndAShortExtension) {
  EXPECT_EQ(ShortenedName("web.pem"), "web.pem");
  EXPECT_EQ(ShortenedName(std::string(kMaxShortenedBytes, 'a')),
            std::string(kMaxShortenedBytes, 'a'));
  const std::string long_pem = std::string(246, 'a') + ".pem";
  EXPECT_EQ(ShortenedName(long_pem), std::string(226, 'a') + "~5b75cefe.pem");
  EXPECT_EQ(ShortenedName(long_pem).size(), kMaxShortenedBytes);
  // An extension over 16 bytes is not kept.
  EXPECT_EQ(ShortenedName(std::string(250, 'a') + "." + std::string(20, 'b')),
            std::string(230, 'a') + "~d4719c08");
}

TEST(ShortenedNameTest, CutsOnACharacterBoundary) {
  std::string name = "x";
  for (int i = 0; i < 130; ++i) name += "\xc3\xa9";  // é, two bytes
  name += ".pem";
  std::string expected = "x";
  for (int i = 0; i < 112; ++i) expected += "\xc3\xa9";  // 226 bytes would split the 113th
  EXPECT_EQ(ShortenedName(name), expected + "~49eb6904.pem");
}

TEST(OutcomeNameTest, ShortensOnlyWhatLeavesNoRoom) {
  const std::string fits(244, 'a');  // 244 + ".error.json" = 255
  EXPECT_EQ(OutcomeName("web.pem", 1, 11), "web.pem.1");
  EXPECT_EQ(OutcomeName(fits, 0, 11), fits);
  EXPECT_EQ(OutcomeName(fits, 1, 11), ShortenedName(fits) + ".1");
  EXPECT_EQ(OutcomeName(fits + "a", 0, 11), std::string(230, 'a') + "~5553f055");
  EXPECT_EQ(OutcomeName(fits + "a", 0, 0), fits + "a");
  EXPECT_LE(OutcomeName(fits + "a", kMaxSuffix - 1, 11).size() + 11, kMaxNameBytes);
}

TEST(MakeDirTest, CreatesTheFolderWithModeButNotItsParents) {
  TempDir tmp("certinbox-fsutil-");
  mode_t old_umask = umask(022);
  fs::path dir = tmp.path() / "a";
  EXPECT_TRUE(MakeDir(dir, 0750).has_value());
  umask(old_umask);
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_TRUE(MakeDir(dir, 0750).has_value());  // existing is fine
  auto deep = MakeDir(tmp.path() / "x" / "y", 0750);
  ASSERT_FALSE(deep.has_value());
  EXPECT_NE(
      deep.error().message.find("parent folder " + (tmp.path() / "x").string() + " does not exist"),
      std::string::npos)
      << deep.error().message;
  EXPECT_FALSE(fs::exists(tmp.path() / "x"));
}

TEST(MakeDirTest, RefusesAFileInTheWay) {
  TempDir tmp("certinbox-fsutil-");
  WriteFile(tmp.path() / "file", "x");
  auto made = MakeDir(tmp.path() / "file", 0750);
  ASSERT_FALSE(made.has_value());
  EXPECT_EQ(made.error().code, base::code::kUnwritable);
}

// The daemon moves files between folders it holds descriptors of; AT_FDCWD with absolute paths
// here stands for any folder descriptor.
TEST(RenameNoReplaceTest, NeverOverwrites) {
  TempDir tmp("certinbox-fsutil-");
  WriteFile(tmp.path() / "a", "A");
  WriteFile(tmp.path() / "b", "B");
  auto at = [&](const char* name) { return (tmp.path() / name).string(); };
  EXPECT_EQ(RenameNoReplaceAt(AT_FDCWD, at("a"), AT_FDCWD, at("b")), EEXIST);
  EXPECT_EQ(ReadFile(tmp.path() / "b"), "B");
  EXPECT_EQ(RenameNoReplaceAt(AT_FDCWD, at("a"), AT_FDCWD, at("c")), 0);
  EXPECT_EQ(ReadFile(tmp.path() / "c"), "A");
  EXPECT_EQ(RenameNoReplaceAt(AT_FDCWD, at("missing"), AT_FDCWD, at("d")), ENOENT);
}

TEST(MoveToUniqueNameTest, ProbesSuffixes) {
  TempDir tmp("certinbox-fsutil-");
  fs::create_directory(tmp.path() / "out");
  base::Fd out(open((tmp.path() / "out").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_GE(out.get(), 0);
  for (int i = 0; i < 3; ++i) {
    WriteFile(tmp.path() / "x.pem", std::to_string(i));
    auto moved =
        MoveToUniqueNameAt(AT_FDCWD, (tmp.path() / "x.pem").string(), out.get(), "x.pem", "x.pem");
    ASSERT_TRUE(moved.has_value()) << moved.error().message;
    EXPECT_EQ(*moved, Suffixed("x.pem", i));
    EXPECT_EQ(ReadFile(tmp.path() / "out" / *moved), std::to_string(i));
  }
}

TEST(WriteTempFileTest, WritesHiddenFileWithMode) {
  TempDir tmp("certinbox-fsutil-");
  base::Fd dir(open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_GE(dir.get(), 0);
  auto temp = WriteTempFileAt(dir.get(), "content", 0640);
  ASSERT_TRUE(temp.has_value()) << temp.error().message;
  EXPECT_EQ(temp->front(), '.');
  EXPECT_EQ(ReadFile(tmp.path() / *temp), "content");
  struct stat st;
  ASSERT_EQ(stat((tmp.path() / *temp).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

}  // namespace
}  // namespace certinbox::watchers
