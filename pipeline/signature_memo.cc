#include "pipeline/signature_memo.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_set>

#include "pipeline/ossl.h"

namespace certinbox::pipeline {
namespace {

constexpr size_t kMaxRemembered = 1 << 16;  // about 6 MB at worst; then start over

class Memo {
 public:
  bool Contains(const std::string& key) const {
    std::shared_lock lock(mutex_);
    return verified_.contains(key);
  }
  void Add(std::string key) {
    std::unique_lock lock(mutex_);
    if (verified_.size() >= kMaxRemembered) verified_.clear();
    verified_.insert(std::move(key));
  }

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_set<std::string> verified_;
};

Memo& TheMemo() {
  static Memo* memo = new Memo();  // never destroyed: may be used by threads during exit
  return *memo;
}

// Appends the 32 bytes that 64 lowercase hex digits spell; false (nothing appended) when
// `hex` is not that.
bool AppendHexDigest(std::string_view hex, std::string& out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  char bytes[32];
  for (size_t i = 0; i < 32; ++i) {
    int high = nibble(hex[2 * i]);
    int low = nibble(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    bytes[i] = static_cast<char>(high << 4 | low);
  }
  out.append(bytes, sizeof bytes);
  return true;
}

// SHA-256 of the subject's DER followed by SHA-256 of the issuer's SPKI, raw bytes. The
// digest of the DER a certificate was decoded from serves as well as that of its re-encoding:
// either one fixes the signed bytes, the algorithm and the signature.
bool MemoKey(X509* subject, X509* issuer, KnownDigests known, std::string& key) {
  key.clear();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!AppendHexDigest(known.subject_sha256, key)) {
    if (X509_digest(subject, ThreadSha256(), md, &len) != 1) return false;
    key.assign(reinterpret_cast<char*>(md), len);
  }
  if (AppendHexDigest(known.issuer_spki_sha256, key)) return true;
  // The whole SubjectPublicKeyInfo, not only the key bits (X509_pubkey_digest): the algorithm
  // and its parameters (curve, PSS settings) take part in the verification too.
  unsigned char* spki = nullptr;
  int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(issuer), &spki);
  if (spki_len <= 0) return false;
  bool ok = EVP_Digest(spki, static_cast<size_t>(spki_len), md, &len, ThreadSha256(), nullptr) == 1;
  OPENSSL_free(spki);
  if (!ok) return false;
  key.append(reinterpret_cast<char*>(md), len);
  return true;
}

}  // namespace

bool VerifiedSignature(X509* subject, X509* issuer, KnownDigests known) {
  std::string key;
  bool keyed = MemoKey(subject, issuer, known, key);
  if (keyed && TheMemo().Contains(key)) return true;
  EVP_PKEY* issuer_key = X509_get0_pubkey(issuer);
  bool ok = issuer_key != nullptr && X509_verify(subject, issuer_key) == 1;
  ERR_clear_error();
  if (ok && keyed) TheMemo().Add(std::move(key));
  return ok;
}

}  // namespace certinbox::pipeline
