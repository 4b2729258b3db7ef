// RAII owners for OpenSSL handles. One place, so every handle has exactly one deleter.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace certinbox::pipeline {

template <auto Fn>
struct Free {
  template <class T>
  void operator()(T* p) const noexcept {
    Fn(p);
  }
};

using BioPtr = std::unique_ptr<BIO, Free<BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, Free<X509_REQ_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX_free>>;
using X509CrlPtr = std::unique_ptr<X509_CRL, Free<X509_CRL_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX_free>>;
using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Free<EVP_CIPHER_CTX_free>>;
using Pkcs12Ptr = std::unique_ptr<PKCS12, Free<PKCS12_free>>;
using Pkcs7Ptr = std::unique_ptr<PKCS7, Free<PKCS7_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES_free>>;
using X509SigPtr = std::unique_ptr<X509_SIG, Free<X509_SIG_free>>;
using Pkcs8InfoPtr = std::unique_ptr<PKCS8_PRIV_KEY_INFO, Free<PKCS8_PRIV_KEY_INFO_free>>;

// The bytes of `s` as the d2i_* functions take them.
inline const unsigned char* DerBytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// d2i_* that must consume all of `der`; null otherwise (error queue emptied).
template <class Ptr, class D2i>
Ptr DecodeWholeAs(std::string_view der, D2i d2i) {
  const unsigned char* p = DerBytes(der);
  Ptr obj(d2i(nullptr, &p, static_cast<long>(der.size())));
  ERR_clear_error();
  if (obj && p != DerBytes(der) + der.size()) obj.reset();
  return obj;
}

// Loads OpenSSL's "default" and "legacy" providers into the default library context, once
// per process (thread-safe; later calls return the first answer). Returns whether "legacy"
// is available: without it, PKCS#12 files protected with RC2 or 3DES (old Windows and Java
// exports) cannot be opened. ParseFile calls it; callers may call it early to log the answer.
bool LoadOpensslProviders();

// The calling thread's OpenSSL library context for the pipeline's hot work: decoding
// private keys, and SHA-256 (certificates: ThreadCertificateLibCtx below). OpenSSL 3.0 looks up
// names and methods under locks of the context on every decode (and builds a new decoder for each
// certificate's public key), so threads sharing the default context spend much of their time
// contending; with a context each they do not. It holds the "default" provider only (which
// implements every certificate and key type; "legacy" adds only old ciphers, used for PKCS#12 and
// encrypted keys, which stay on the default context) and does not read openssl.cnf.
// Contexts are never freed: one whose thread has ended is handed to the next new thread, so
// an object made with it stays valid wherever it went (an X509 outlives the pool thread that
// decoded it). Returns nullptr, the default context, when none can be set up or when the
// default context is configured for FIPS.
OSSL_LIB_CTX* ThreadLibCtx();

// The calling thread's library context for decoding certificates: like ThreadLibCtx(), but
// its provider keeps only the decoders a certificate's public key can need, which halves what
// d2i_X509 costs in OpenSSL 3.0 (see certificate_provider.h). It decodes no private keys.
// ThreadLibCtx() itself when that provider cannot be loaded; nullptr where ThreadLibCtx() is.
OSSL_LIB_CTX* ThreadCertificateLibCtx();

// Decodes `der`, exactly one DER certificate, into an X509 of ThreadCertificateLibCtx(). Like
// d2i_X509 given an object, it also checks the extensions (OpenSSL 3.0 caches them then).
// nullptr when it is not one; OpenSSL's errors, if any, are left in its queue (bytes after
// the certificate leave none).
X509Ptr DecodeCertificateDer(std::string_view der);

// SHA-256 fetched once per thread from ThreadLibCtx(), for EVP_Digest and X509_digest:
// EVP_sha256() is looked up again (under locks) on every use. EVP_sha256() itself when the
// fetch failed, so never null.
const EVP_MD* ThreadSha256();

// Lowercase hex SHA-256 of `bytes` (with ThreadSha256); "" if OpenSSL fails.
std::string Sha256Hex(std::string_view bytes);

// A byte buffer for secrets (private key DER, passwords): wiped before it is freed.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::string_view bytes) : bytes_(bytes.begin(), bytes.end()) {}
  SecretBytes(const SecretBytes&) = default;
  SecretBytes& operator=(const SecretBytes& other);  // wipes the old bytes first
  SecretBytes(SecretBytes&& other) noexcept = default;
  SecretBytes& operator=(SecretBytes&& other) noexcept;  // wipes the old bytes first
  ~SecretBytes();

  const unsigned char* data() const { return bytes_.data(); }
  unsigned char* data() { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  void resize(size_t n);  // never leaves a copy behind in freed memory
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }

 private:
  std::vector<unsigned char> bytes_;
};

}  // namespace certinbox::pipeline
