// The key vault: private keys are stored only sealed with AES-256-GCM under a 32-byte master key.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "base/error.h"
#include "pipeline/error.h"
#include "pipeline/ossl.h"

namespace certinbox::storage {

class Vault {
 public:
  // Reads the master key file, or creates it (32 random bytes, mode 0600, O_EXCL) when it does
  // not exist. Refuses (master_key_insecure) a file that group or others can read or write, a
  // symlink, or one of the wrong size (master_key_bad_size).
  static base::Result<Vault> OpenOrCreate(const std::filesystem::path& key_file);
  // A vault without a key, for a read-only view of the inventory (Inventory::OpenReadOnly):
  // Seal, Open and Tag fail with vault_error.
  static Vault Keyless() { return Vault(pipeline::SecretBytes()); }

  // Returns nonce(12) || ciphertext || tag(16). `aad` binds the blob to its row (e.g. the SPKI
  // hash), so a sealed key cannot be swapped between rows unnoticed.
  base::Result<std::string> Seal(std::string_view plaintext, std::string_view aad) const;
  base::Result<pipeline::SecretBytes> Open(std::string_view sealed, std::string_view aad) const;

  // HMAC-SHA256 of `message` under a key derived from the master key, as 64 lowercase hex
  // digits: secrets that must stay the same across restarts (plugin tokens, docs/plugins.md).
  // Fails with vault_error when OpenSSL cannot compute it.
  base::Result<std::string> Tag(std::string_view message) const;

 private:
  explicit Vault(pipeline::SecretBytes key) : key_(std::move(key)) {}
  pipeline::SecretBytes key_;
};

}  // namespace certinbox::storage
