// An in-process test CA: keys, certificates, CSRs and every file format certinbox imports,
// made with OpenSSL 3 at test time (no committed keys).
//
// Failures of OpenSSL calls throw std::runtime_error (GoogleTest reports them as test
// failures). Functions are thread-safe unless they say otherwise. EC P-256 is the default
// key type because it is fast (tens of microseconds per key); RSA keys take milliseconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/ossl.h"

namespace certinbox::testing {

enum class KeyType {
  kEcP256,  // default: fast
  kEcP384,
  kRsa2048,
  kRsa1024,  // below certinbox's minimum: weak_key
  kEd25519,
};

enum class Digest {
  kSha256,  // default
  kSha384,
  kSha1,  // weak_signature
  kMd5,   // weak_signature; RSA keys only
};

// A fresh private key of `type`.
pipeline::EvpPkeyPtr MakeKey(KeyType type = KeyType::kEcP256);

// What to put into a certificate. Times are Unix seconds; unset means "an hour ago" and
// "in 397 days" (the public CAs' longest lifetime) from the real clock: beyond every default
// notify_days threshold, so a test certificate raises no cert.expiring unless a test asks.
struct CertSpec {
  std::string cn = "leaf.test";
  std::string organization;       // O=..., omitted when empty
  std::vector<std::string> sans;  // "DNS:a.test", "IP:192.0.2.1", "IP:2001:db8::1",
                                  // "URI:https://a.test/", "email:ops@a.test"
  std::optional<int64_t> not_before;
  std::optional<int64_t> not_after;
  bool is_ca = false;                   // basicConstraints CA:TRUE + keyUsage keyCertSign, cRLSign
  std::optional<int> path_length;       // CA only
  KeyType key_type = KeyType::kEcP256;  // used when Issue() is not given a key
  Digest digest = Digest::kSha256;      // ignored for Ed25519 issuers
  bool key_ids = true;                  // subject and authority key identifiers
  std::optional<uint64_t> serial;       // unset: 16 random bytes
};

// A leaf spec with CN `cn` and the SAN DNS:`cn`.
CertSpec LeafSpec(std::string cn);
// A CA spec with CN `cn`.
CertSpec CaSpec(std::string cn);

// A certificate and its private key. Copies share the OpenSSL objects (reference counted).
struct Issued {
  pipeline::X509Ptr cert;
  pipeline::EvpPkeyPtr key;

  Issued() = default;
  Issued(pipeline::X509Ptr c, pipeline::EvpPkeyPtr k) : cert(std::move(c)), key(std::move(k)) {}
  Issued(const Issued& other);
  Issued& operator=(const Issued& other);
  Issued(Issued&&) noexcept = default;
  Issued& operator=(Issued&&) noexcept = default;

  std::string CertPem() const;
  std::string CertDer() const;
  std::string KeyPem() const;           // unencrypted PKCS#8
  std::string Fingerprint() const;      // lowercase hex SHA-256 of the certificate DER
  std::string SpkiFingerprint() const;  // lowercase hex SHA-256 of the SubjectPublicKeyInfo
};

// Issues a certificate for `spec`, signed by `issuer` (nullptr: self-signed). The subject key
// is `key` when given (the Issued holds its own reference), else a new key of spec.key_type.
Issued Issue(const CertSpec& spec, const Issued* issuer = nullptr, EVP_PKEY* key = nullptr);

// root (self-signed CA) -> intermediate (CA) -> leaf, all EC P-256 except the leaf, which
// follows its spec.
struct TestPki {
  Issued root;
  Issued intermediate;
  Issued leaf;

  static TestPki Make(const CertSpec& leaf_spec = LeafSpec("leaf.test"));
  // leaf, intermediate, root as concatenated PEM certificates.
  std::string ChainPem() const;
};

using CertList = std::vector<const Issued*>;

// --- Certificates --------------------------------------------------------------------------
std::string CertPem(X509* cert);
std::string CertDer(X509* cert);
// PEM certificates of `certs`, concatenated in order.
std::string CertsPem(const CertList& certs);
// "-----BEGIN TRUSTED CERTIFICATE-----" (OpenSSL's X509_AUX form).
std::string TrustedCertPem(X509* cert);

// --- Private keys --------------------------------------------------------------------------
std::string KeyPkcs8Pem(EVP_PKEY* key);  // PRIVATE KEY
std::string KeyPkcs8Der(EVP_PKEY* key);
std::string KeyPkcs1Pem(EVP_PKEY* key);  // RSA PRIVATE KEY; RSA keys only
std::string KeyPkcs1Der(EVP_PKEY* key);  // RSA keys only
std::string KeySec1Pem(EVP_PKEY* key);   // EC PRIVATE KEY; EC keys only
std::string KeySec1Der(EVP_PKEY* key);   // EC keys only
// ENCRYPTED PRIVATE KEY: PKCS#8 with PBES2, AES-256-CBC.
std::string KeyEncryptedPkcs8Pem(EVP_PKEY* key, std::string_view password);
std::string KeyEncryptedPkcs8Der(EVP_PKEY* key, std::string_view password);
// RSA/EC PRIVATE KEY with OpenSSL's legacy PEM encryption ("Proc-Type: 4,ENCRYPTED",
// "DEK-Info: AES-256-CBC,..."), as `openssl rsa -aes256` wrote it before OpenSSL 3.
std::string KeyLegacyEncryptedPem(EVP_PKEY* key, std::string_view password);

// --- PKCS#12 and PKCS#7 --------------------------------------------------------------------
enum class Pkcs12Cipher {
  kAes256,  // PBES2 AES-256-CBC, HMAC-SHA256 MAC: OpenSSL 3 default
  kLegacy,  // key 3DES, certificates RC2-40, SHA-1 MAC: old Windows/Java exports
};

// A PKCS#12 (DER) holding `cert.cert` + `cert.key` and the `chain` certificates.
// password nullopt: no password at all (key and certificates unencrypted, no MAC).
std::string MakePkcs12(const Issued& cert, const CertList& chain,
                       std::optional<std::string_view> password,
                       Pkcs12Cipher cipher = Pkcs12Cipher::kAes256);

// A certs-only PKCS#7 SignedData bundle (like `openssl crl2pkcs7 -nocrl`).
std::string Pkcs7Der(const CertList& certs);
std::string Pkcs7Pem(const CertList& certs);  // "-----BEGIN PKCS7-----"

// --- Certificate requests ------------------------------------------------------------------
struct CsrSpec {
  std::string cn = "csr.test";
  std::vector<std::string> sans;  // same syntax as CertSpec::sans
  KeyType key_type = KeyType::kEcP256;
};

struct IssuedCsr {
  pipeline::X509ReqPtr req;
  pipeline::EvpPkeyPtr key;

  std::string Pem() const;  // CERTIFICATE REQUEST
  std::string Der() const;
};

IssuedCsr MakeCsr(const CsrSpec& spec = {});

// Signs a CSR (PEM) as a CA would: a certificate for the request's public key, with the
// subject and SANs of `spec` (not copied from the request), signed by `issuer`. The Issued's
// key is the request's public key only (no private half).
Issued SignCsr(std::string_view csr_pem, const CertSpec& spec, const Issued& issuer);

// --- Assertions helpers --------------------------------------------------------------------
// Lowercase hex SHA-256 of `der` / of the certificate's DER.
std::string Sha256Hex(std::string_view bytes);
std::string Sha256Fingerprint(X509* cert);
// Unix seconds now, from the real clock.
int64_t NowUnix();

}  // namespace certinbox::testing
