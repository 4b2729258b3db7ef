#include "storage/vault.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "tests/storage/drop_fixture.h"

namespace certinbox::storage {
namespace {

using test::TempDir;

void WriteFile(const std::filesystem::path& path, const std::string& bytes, mode_t mode) {
  std::ofstream(path, std::ios::binary) << bytes;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

Vault MustOpen(const std::filesystem::path& path) {
  auto vault = Vault::OpenOrCreate(path);
  if (!vault) ADD_FAILURE() << vault.error().code << ": " << vault.error().message;
  return std::move(vault.value());
}

TEST(VaultTest, CreatesA32ByteKeyFileWithMode0600) {
  TempDir dir;
  const auto path = dir.path() / "master.key";
  auto vault = Vault::OpenOrCreate(path);
  ASSERT_TRUE(vault) << vault.error().message;
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 32);
}

TEST(VaultTest, SealOpenRoundTripAcrossReopen) {
  TempDir dir;
  const auto path = dir.path() / "master.key";
  using namespace std::string_literals;
  const std::string secret = "-----not really a key----- with \0 bytes\0"s;
  std::string sealed;
  {
    Vault vault = MustOpen(path);
    auto s = vault.Seal(secret, "spki-a");
    ASSERT_TRUE(s) << s.error().message;
    sealed = *s;
  }
  EXPECT_EQ(sealed.size(), 12 + secret.size() + 16);
  EXPECT_EQ(sealed.find(secret), std::string::npos);
  Vault reopened = MustOpen(path);  // reads the same key file
  auto plain = reopened.Open(sealed, "spki-a");
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->view(), secret);
}

TEST(VaultTest, EachSealUsesAFreshNonce) {
  TempDir dir;
  Vault vault = MustOpen(dir.path() / "master.key");
  auto a = vault.Seal("same bytes", "aad");
  auto b = vault.Seal("same bytes", "aad");
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->substr(0, 12), b->substr(0, 12));
  EXPECT_NE(*a, *b);
}

TEST(VaultTest, EmptyPlaintextRoundTrips) {
  TempDir dir;
  Vault vault = MustOpen(dir.path() / "master.key");
  auto sealed = vault.Seal("", "aad");
  ASSERT_TRUE(sealed);
  auto plain = vault.Open(*sealed, "aad");
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_TRUE(plain->empty());
}

TEST(VaultTest, TamperedBlobDoesNotOpen) {
  TempDir dir;
  Vault vault = MustOpen(dir.path() / "master.key");
  auto sealed = vault.Seal("a private key, say", "spki");
  ASSERT_TRUE(sealed);
  // A flipped bit in the nonce, the ciphertext or the tag.
  for (size_t at : {size_t{0}, size_t{11}, size_t{12}, sealed->size() / 2, sealed->size() - 1}) {
    std::string bad = *sealed;
    bad[at] = static_cast<char>(bad[at] ^ 0x01);
    auto plain = vault.Open(bad, "spki");
    ASSERT_FALSE(plain) << "tampered at byte " << at;
    EXPECT_EQ(plain.error().code, "vault_open_failed");
  }
  auto truncated = vault.Open(sealed->substr(0, 20), "spki");
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, "vault_open_failed");
}

TEST(VaultTest, WrongAadDoesNotOpen) {
  TempDir dir;
  Vault vault = MustOpen(dir.path() / "master.key");
  auto sealed = vault.Seal("key bytes", "spki-of-row-1");
  ASSERT_TRUE(sealed);
  auto plain = vault.Open(*sealed, "spki-of-row-2");
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code, "vault_open_failed");
}

TEST(VaultTest, AnotherMasterKeyDoesNotOpen) {
  TempDir dir;
  Vault one = MustOpen(dir.path() / "one.key");
  Vault two = MustOpen(dir.path() / "two.key");
  auto sealed = one.Seal("key bytes", "aad");
  ASSERT_TRUE(sealed);
  EXPECT_FALSE(two.Open(*sealed, "aad"));
}

TEST(VaultTest, TagIsStableAcrossReopenAndDiffersByMessageAndKey) {
  TempDir dir;
  std::string first;
  {
    Vault vault = MustOpen(dir.path() / "one.key");
    first = vault.Tag("plugin:deploy").value();
  }
  EXPECT_EQ(first.size(), 64u);
  EXPECT_EQ(first.find_first_not_of("0123456789abcdef"), std::string::npos);
  Vault reopened = MustOpen(dir.path() / "one.key");
  EXPECT_EQ(reopened.Tag("plugin:deploy").value(), first);
  EXPECT_NE(reopened.Tag("plugin:webhook").value(), first);
  Vault other = MustOpen(dir.path() / "two.key");
  EXPECT_NE(other.Tag("plugin:deploy").value(), first);
}

TEST(VaultTest, RefusesKeyFileReadableByGroupOrOthers) {
  TempDir dir;
  const auto path = dir.path() / "master.key";
  for (mode_t mode : {0640, 0604, 0620, 0660, 0644}) {
    WriteFile(path, std::string(32, 'k'), mode);
    auto vault = Vault::OpenOrCreate(path);
    ASSERT_FALSE(vault) << std::oct << mode;
    EXPECT_EQ(vault.error().code, "master_key_insecure");
    EXPECT_NE(vault.error().message.find("chmod 600 " + path.string()), std::string::npos)
        << vault.error().message;
  }
  WriteFile(path, std::string(32, 'k'), 0600);
  EXPECT_TRUE(Vault::OpenOrCreate(path));
}

TEST(VaultTest, RefusesSymlink) {
  TempDir dir;
  const auto target = dir.path() / "real.key";
  const auto link = dir.path() / "master.key";
  WriteFile(target, std::string(32, 'k'), 0600);
  std::filesystem::create_symlink(target, link);
  auto vault = Vault::OpenOrCreate(link);
  ASSERT_FALSE(vault);
  EXPECT_EQ(vault.error().code, "master_key_insecure");
  // A dangling symlink is not followed to create a key either.
  std::filesystem::remove(target);
  auto dangling = Vault::OpenOrCreate(link);
  ASSERT_FALSE(dangling);
  EXPECT_FALSE(std::filesystem::exists(target));
}

TEST(VaultTest, RefusesWrongSize) {
  TempDir dir;
  const auto path = dir.path() / "master.key";
  for (size_t size : {size_t{0}, size_t{16}, size_t{31}, size_t{33}, size_t{64}}) {
    WriteFile(path, std::string(size, 'k'), 0600);
    auto vault = Vault::OpenOrCreate(path);
    ASSERT_FALSE(vault) << size;
    EXPECT_EQ(vault.error().code, "master_key_bad_size");
  }
}

TEST(VaultTest, RefusesADirectory) {
  TempDir dir;
  const auto path = dir.path() / "master.key";
  std::filesystem::create_directory(path);
  ::chmod(path.c_str(), 0700);
  EXPECT_FALSE(Vault::OpenOrCreate(path));
}

}  // namespace
}  // namespace certinbox::storage
