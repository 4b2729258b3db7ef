// certinbox-deploy's atomic file writer, on a real file system.
#include "plugins/deploy/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/testing/files.h"
#include "tests/testing/temp_dir.h"

namespace certinbox::deploy {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;

mode_t ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Restores the umask at the end of a test.
struct Umask {
  mode_t old;
  explicit Umask(mode_t mask) : old(::umask(mask)) {}
  ~Umask() { ::umask(old); }
};

size_t EntriesIn(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

TEST(WriteDeployedFile, ExactModesWhateverTheUmask) {
  TempDir dir("certinbox-deploy-files-");
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
    Umask umask(mask);
    ASSERT_TRUE(WriteDeployedFile(dir.path(), "privkey.pem", "KEY", 0600).has_value());
    ASSERT_TRUE(WriteDeployedFile(dir.path(), "cert.pem", "CERT", 0644).has_value());
    EXPECT_EQ(ModeOf(dir.path() / "privkey.pem"), 0600u) << "umask " << mask;
    EXPECT_EQ(ModeOf(dir.path() / "cert.pem"), 0644u) << "umask " << mask;
  }
  EXPECT_EQ(ReadFile(dir.path() / "privkey.pem"), "KEY");
  EXPECT_EQ(ReadFile(dir.path() / "cert.pem"), "CERT");
  EXPECT_EQ(EntriesIn(dir.path()), 2u);  // no temporary file left
}

TEST(WriteDeployedFile, ReplacesByRenameSoAnOpenReaderKeepsTheOldFile) {
  TempDir dir("certinbox-deploy-files-");
  ASSERT_TRUE(WriteDeployedFile(dir.path(), "cert.pem", "version 1", 0644).has_value());
  std::ifstream reader(dir.path() / "cert.pem");
  struct stat before {};
  ASSERT_EQ(::stat((dir.path() / "cert.pem").c_str(), &before), 0);

  ASSERT_TRUE(WriteDeployedFile(dir.path(), "cert.pem", "version 2, longer", 0644).has_value());
  struct stat after {};
  ASSERT_EQ(::stat((dir.path() / "cert.pem").c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);  // a new file, not the old one rewritten
  std::stringstream old;
  old << reader.rdbuf();
  EXPECT_EQ(old.str(), "version 1");
  EXPECT_EQ(ReadFile(dir.path() / "cert.pem"), "version 2, longer");

  // An existing file with a wider mode becomes exactly the asked mode.
  fs::permissions(dir.path() / "cert.pem", fs::perms::all);
  ASSERT_TRUE(WriteDeployedFile(dir.path(), "cert.pem", "v3", 0600).has_value());
  EXPECT_EQ(ModeOf(dir.path() / "cert.pem"), 0600u);
  EXPECT_EQ(EntriesIn(dir.path()), 1u);
}

TEST(WriteDeployedFile, EmptyAndLargeContents) {
  TempDir dir("certinbox-deploy-files-");
  ASSERT_TRUE(WriteDeployedFile(dir.path(), "chain.pem", "", 0644).has_value());
  EXPECT_TRUE(fs::exists(dir.path() / "chain.pem"));
  EXPECT_EQ(fs::file_size(dir.path() / "chain.pem"), 0u);
  std::string big(3 << 20, 'c');
  ASSERT_TRUE(WriteDeployedFile(dir.path(), "fullchain.pem", big, 0644).has_value());
  EXPECT_EQ(ReadFile(dir.path() / "fullchain.pem"), big);
}

TEST(WriteDeployedFile, FailuresAreSentencesAndLeaveNothing) {
  TempDir dir("certinbox-deploy-files-");
  auto missing = WriteDeployedFile((dir.path() / "no-such-folder").string(), "cert.pem", "x", 0644);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("no-such-folder"), std::string::npos)
      << missing.error().message;

  // The target is a folder: the rename fails and the temporary file is removed.
  fs::create_directory(dir.path() / "cert.pem");
  fs::create_directory(dir.path() / "cert.pem" / "inside");
  auto onto_folder = WriteDeployedFile(dir.path(), "cert.pem", "x", 0644);
  ASSERT_FALSE(onto_folder.has_value());
  EXPECT_NE(onto_folder.error().message.find("cert.pem"), std::string::npos)
      << onto_folder.error().message;
  EXPECT_EQ(EntriesIn(dir.path()), 1u);
}

TEST(EnsureFolderAndRemoveFile, CreateParentsRemoveQuietly) {
  TempDir dir("certinbox-deploy-files-");
  fs::path deep = dir.path() / "live" / "web";
  ASSERT_TRUE(EnsureFolder(deep).has_value());
  EXPECT_TRUE(fs::is_directory(deep));
  ASSERT_TRUE(EnsureFolder(deep).has_value());  // again: fine
  std::ofstream(dir.path() / "file") << "x";
  EXPECT_FALSE(EnsureFolder(dir.path() / "file").has_value());

  ASSERT_TRUE(WriteDeployedFile(deep, "cert.pem", "x", 0644).has_value());
  EXPECT_TRUE(RemoveFile(deep, "cert.pem").has_value());
  EXPECT_FALSE(fs::exists(deep / "cert.pem"));
  EXPECT_TRUE(RemoveFile(deep, "cert.pem").has_value());  // already gone: not an error
}

}  // namespace
}  // namespace certinbox::deploy
