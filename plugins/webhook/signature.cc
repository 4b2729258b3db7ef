#include "plugins/webhook/signature.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace certinbox::webhook {

std::optional<std::string> HmacSha256Hex(std::string_view secret, std::string_view body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // HMAC() with a null key pointer would mean "no key"; an empty secret is refused before this.
  static const unsigned char kEmpty = 0;
  const void* key = secret.empty() ? static_cast<const void*>(&kEmpty) : secret.data();
  if (HMAC(EVP_sha256(), key, static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest,
           &length) == nullptr) {
    return std::nullopt;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0x0f]);
  }
  return hex;
}

std::optional<std::string> SignatureHeaderValue(std::string_view secret, std::string_view body) {
  auto hex = HmacSha256Hex(secret, body);
  if (!hex) return std::nullopt;
  return "sha256=" + *hex;
}

}  // namespace certinbox::webhook
