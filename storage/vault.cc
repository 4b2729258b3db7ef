#include "storage/vault.h"

#include <fcntl.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/fd.h"
#include "base/hex.h"
#include "pipeline/ossl.h"

namespace certinbox::storage {

namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

// Fetched once: EVP_aes_256_gcm() makes OpenSSL 3 look the cipher up in its providers on
// every init, a noticeable share of sealing a key. Never freed: it lives as long as the process.
const EVP_CIPHER* AesGcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

std::string Errno(int err) { return std::strerror(err); }

base::Error KeyFileError(const std::filesystem::path& file, const std::string& what, int err) {
  return base::Error{base::code::kMasterKeyUnreadable,
                     "the master key file " + file.string() + " " + what + ": " + Errno(err)};
}

base::Error CryptoError(std::string code, std::string what) {
  std::string detail = pipeline::DrainOpensslErrors();
  if (!detail.empty()) what += " (" + detail + ")";
  return base::Error{std::move(code), std::move(what)};
}

// The key file is created once and every sealed key depends on it, so its creation is made
// durable (file and directory entry) before anything is sealed with it.
base::Result<bool> CreateKeyFile(const std::filesystem::path& file) {
  base::Fd fd(::open(file.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    if (errno == EEXIST) return false;  // someone else made it first: read theirs
    return std::unexpected(KeyFileError(file, "cannot be created", errno));
  }
  pipeline::SecretBytes key;
  key.resize(kKeyBytes);
  if (RAND_priv_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    ::unlink(file.c_str());
    return std::unexpected(
        CryptoError(base::code::kMasterKeyUnreadable, "no random bytes for the master key"));
  }
  size_t written = 0;
  while (written < key.size()) {
    ssize_t n = ::write(fd.get(), key.data() + written, key.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::unlink(file.c_str());
      return std::unexpected(KeyFileError(file, "cannot be written", err));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || fd.Close() != 0) {
    int err = errno;
    ::unlink(file.c_str());
    return std::unexpected(KeyFileError(file, "cannot be synced", err));
  }
  std::filesystem::path dir = file.parent_path();
  if (dir.empty()) dir = ".";
  base::Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) ::fsync(dir_fd.get());
  return true;
}

base::Result<pipeline::SecretBytes> ReadKeyFile(const std::filesystem::path& file) {
  base::Fd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ELOOP) {
      return base::Fail(base::code::kMasterKeyInsecure,
                        "the master key file " + file.string() +
                            " is a symbolic link: replace it with the file itself, mode 0600");
    }
    return std::unexpected(KeyFileError(file, "cannot be opened", errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return std::unexpected(KeyFileError(file, "cannot be read", errno));
  if (!S_ISREG(st.st_mode)) {
    return base::Fail(base::code::kMasterKeyInsecure,
                      "the master key file " + file.string() + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    return base::Fail(base::code::kMasterKeyInsecure,
                      "the master key file " + file.string() +
                          " can be read or written by group or others: run `chmod 600 " +
                          file.string() + "`");
  }
  if (st.st_uid != ::geteuid()) {
    return base::Fail(base::code::kMasterKeyInsecure,
                      "the master key file " + file.string() +
                          " belongs to another user: chown it to the daemon's user");
  }
  if (st.st_size != static_cast<off_t>(kKeyBytes)) {
    return base::Fail(base::code::kMasterKeyBadSize,
                      "the master key file " + file.string() + " has " +
                          std::to_string(st.st_size) +
                          " bytes, not 32: restore the right file "
                          "(a new key cannot open the keys already stored)");
  }
  pipeline::SecretBytes key;
  key.resize(kKeyBytes);
  size_t got = 0;
  while (got < key.size()) {
    ssize_t n = ::read(fd.get(), key.data() + got, key.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(KeyFileError(file, "cannot be read", errno));
    if (n == 0) {
      return base::Fail(base::code::kMasterKeyBadSize,
                        "the master key file " + file.string() + " shrank while being read");
    }
    got += static_cast<size_t>(n);
  }
  return key;
}

}  // namespace

base::Result<Vault> Vault::OpenOrCreate(const std::filesystem::path& key_file) {
  struct stat st {};
  if (::lstat(key_file.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return std::unexpected(KeyFileError(key_file, "cannot be examined", errno));
    auto created = CreateKeyFile(key_file);
    if (!created) return std::unexpected(created.error());
  }
  auto key = ReadKeyFile(key_file);
  if (!key) return std::unexpected(key.error());
  return Vault(std::move(*key));
}

base::Result<std::string> Vault::Seal(std::string_view plaintext, std::string_view aad) const {
  if (key_.size() != kKeyBytes) {
    return base::Fail(base::code::kVaultError, "a read-only view of the inventory holds no key");
  }
  constexpr size_t kMaxInt = static_cast<size_t>(std::numeric_limits<int>::max());
  if (plaintext.size() > kMaxInt - kNonceBytes - kTagBytes || aad.size() > kMaxInt) {
    return base::Fail(base::code::kVaultError, "the data to seal is too large");
  }
  std::string sealed(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  if (RAND_bytes(out, static_cast<int>(kNonceBytes)) != 1) {
    return std::unexpected(CryptoError(base::code::kVaultError, "no random bytes for a nonce"));
  }
  pipeline::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int final_len = 0;
  if (!ctx || AesGcm() == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), AesGcm(), nullptr, key_.data(), out) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out + kNonceBytes, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out + kNonceBytes + len, &final_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          out + kNonceBytes + plaintext.size()) != 1) {
    return std::unexpected(CryptoError(base::code::kVaultError, "AES-256-GCM sealing failed"));
  }
  return sealed;
}

base::Result<pipeline::SecretBytes> Vault::Open(std::string_view sealed,
                                                std::string_view aad) const {
  if (key_.size() != kKeyBytes) {
    return base::Fail(base::code::kVaultError, "a read-only view of the inventory holds no key");
  }
  if (sealed.size() < kNonceBytes + kTagBytes ||
      sealed.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      aad.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return base::Fail(base::code::kVaultOpenFailed,
                      "a sealed key has an impossible size: the "
                      "database is damaged");
  }
  const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
  const size_t body = sealed.size() - kNonceBytes - kTagBytes;
  pipeline::SecretBytes plain;
  plain.resize(body);
  pipeline::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int final_len = 0;
  // The tag is set before DecryptFinal, which checks it; EVP needs a non-const pointer.
  unsigned char tag[kTagBytes];
  std::memcpy(tag, in + kNonceBytes + body, kTagBytes);
  if (!ctx || AesGcm() == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), AesGcm(), nullptr, key_.data(), in) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), plain.data(), &len, in + kNonceBytes, static_cast<int>(body)) !=
          1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), plain.data() + len, &final_len) != 1) {
    return std::unexpected(CryptoError(
        base::code::kVaultOpenFailed,
        "a sealed key does not open with this master key: the master key file was replaced or "
        "the database was altered"));
  }
  return plain;
}

base::Result<std::string> Vault::Tag(std::string_view message) const {
  if (key_.size() != kKeyBytes) {
    return base::Fail(base::code::kVaultError, "a read-only view of the inventory holds no key");
  }
  // The master key seals keys; tags use a key derived from it for that purpose only.
  static constexpr std::string_view kLabel = "certinbox tag key v1";
  unsigned char derived[EVP_MAX_MD_SIZE];
  unsigned int derived_len = 0;
  unsigned char tag[EVP_MAX_MD_SIZE];
  unsigned int tag_len = 0;
  if (!HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
            reinterpret_cast<const unsigned char*>(kLabel.data()), kLabel.size(), derived,
            &derived_len) ||
      !HMAC(EVP_sha256(), derived, static_cast<int>(derived_len),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), tag,
            &tag_len)) {
    OPENSSL_cleanse(derived, sizeof derived);
    return base::Fail(base::code::kVaultError, "cannot derive a tag from the master key");
  }
  OPENSSL_cleanse(derived, sizeof derived);
  return base::HexLower(tag, tag_len);
}

}  // namespace certinbox::storage
