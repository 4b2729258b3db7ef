// base/file.h on a real file system: reads that refuse what is not a plain regular file within
// the limit, and atomic writes that replace or refuse an existing file as asked.
#include "base/file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "base/error_codes.h"
#include "tests/testing/files.h"
#include "tests/testing/temp_dir.h"

namespace certinbox::base {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

TEST(ReadRegularFileTest, RefusesSymlinksFifosHardLinksAndLargeFiles) {
  TempDir tmp("certinbox-file-");
  WriteFile(tmp.path() / "small", "12345");
  fs::create_symlink(tmp.path() / "small", tmp.path() / "link");
  ASSERT_EQ(mkfifo((tmp.path() / "fifo").c_str(), 0600), 0);
  fs::create_hard_link(tmp.path() / "small", tmp.path() / "twin");
  struct Case {
    const char* name;
    uint64_t max_bytes;
    bool refuse_hard_links;
    const char* code;  // nullptr: read
  };
  const Case cases[] = {
      {"small", 5, false, nullptr},
      {"small", 4, false, code::kFileTooLarge},
      {"link", 100, false, code::kSymlink},
      {"fifo", 100, false, code::kNotRegularFile},  // and does not block
      {"twin", 100, true, code::kHardLink},
      {"missing", 100, false, code::kUnreadable},
  };
  for (const Case& c : cases) {
    auto read =
        ReadRegularFileAt(AT_FDCWD, tmp.path() / c.name,
                          {.max_bytes = c.max_bytes, .refuse_hard_links = c.refuse_hard_links});
    if (c.code == nullptr) {
      ASSERT_TRUE(read.has_value()) << c.name << ": " << read.error().message;
      EXPECT_EQ(*read, "12345");
    } else {
      ASSERT_FALSE(read.has_value()) << c.name;
      EXPECT_EQ(read.error().code, c.code) << c.name;
    }
  }
  EXPECT_EQ(ReadRegularFile(tmp.path() / "small", 5).value(), "12345");
}

TEST(ReadRegularFileTest, RelativeToAFolderAndSaysWhatItRead) {
  TempDir tmp("certinbox-file-");
  WriteFile(tmp.path() / "a.pem", "PEM");
  int dir = ::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir, 0);
  struct stat seen {};
  auto read = ReadRegularFileAt(dir, "a.pem", {.max_bytes = 10, .seen = &seen});
  ::close(dir);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_EQ(*read, "PEM");
  EXPECT_EQ(seen.st_size, 3);
}

TEST(WriteFileAtomicallyTest, RefusesAnExistingFileUnlessAskedToReplace) {
  TempDir tmp("certinbox-file-");
  const fs::path out = tmp.path() / "csr.pem";
  ASSERT_TRUE(WriteFileAtomically(out, "one", {.mode = 0644, .replace = false}).has_value());
  auto again = WriteFileAtomically(out, "two", {.mode = 0644, .replace = false});
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, code::kFileExists);
  EXPECT_EQ(ReadFile(out), "one");
  ASSERT_TRUE(WriteFileAtomically(out, "three", {.mode = 0644, .replace = true}).has_value());
  EXPECT_EQ(ReadFile(out), "three");
  // No temporary file is left behind either way.
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);
}

TEST(WriteFileAtomicallyTest, AMissingFolderIsUnwritable) {
  TempDir tmp("certinbox-file-");
  auto written = WriteFileAtomically(tmp.path() / "no-such-folder" / "x", "x", {});
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code, code::kUnwritable);
}

}  // namespace
}  // namespace certinbox::base
