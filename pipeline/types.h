// The domain types that flow through parse -> validate -> match and into storage.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/time.h"
#include "pipeline/ossl.h"
#include "pipeline/x509_labels.h"

namespace certinbox::pipeline {

// Stable finding codes (docs/inbox.md, "Findings"): stored, published and tested.
inline constexpr const char* kChainIncomplete = "chain_incomplete";
inline constexpr const char* kUntrustedRoot = "untrusted_root";
inline constexpr const char* kSelfSigned = "self_signed";
inline constexpr const char* kWeakKey = "weak_key";
inline constexpr const char* kWeakSignature = "weak_signature";
inline constexpr const char* kNoPrivateKey = "no_private_key";
inline constexpr const char* kNotYetValid = "not_yet_valid";
inline constexpr const char* kExpiredFinding = "expired";  // only with accept_expired = true

struct CertificateInfo {
  std::string fingerprint_sha256;  // lowercase hex, SHA-256 over the DER certificate
  std::string spki_sha256;         // lowercase hex, SHA-256 over SubjectPublicKeyInfo DER
  std::string serial;              // uppercase hex
  std::string subject;             // RFC 2253 one line
  std::string issuer;              // RFC 2253 one line
  std::string subject_cn;          // "" when the subject has no CN
  std::vector<std::string> sans;   // "DNS:a.example", "IP:192.0.2.1", "URI:...", "email:..."
  base::UnixTime not_before = 0;
  base::UnixTime not_after = 0;
  std::string key_algorithm;  // "RSA", "EC", "ED25519", ...
  int key_bits = 0;
  std::string signature_algorithm;  // OpenSSL long name, e.g. "sha256WithRSAEncryption"
  bool is_ca = false;               // basicConstraints CA:TRUE
  bool self_issued = false;         // subject == issuer
  ExporterNames exporter;           // serial and names as x509-certificate-exporter labels them
};

struct Certificate {
  X509Ptr x509;  // read-only: parse may share one X509 between files (reference counted)
  CertificateInfo info;
  std::string der;
};

struct PrivateKey {
  EvpPkeyPtr pkey;
  std::string spki_sha256;  // of its public half: equals the certificate's spki_sha256
  std::string algorithm;
  int bits = 0;
  SecretBytes pkcs8_der;  // unencrypted PKCS#8 DER; only ever stored through the vault
};

struct CertificateRequest {
  X509ReqPtr req;
  std::string spki_sha256;
  std::string subject;
  std::vector<std::string> sans;
  std::string der;
};

// Everything one dropped file held, in file order.
struct ParsedFile {
  std::string format;  // "pem", "der", "pkcs12", "pkcs7"
  std::vector<Certificate> certificates;
  std::vector<PrivateKey> keys;
  std::vector<CertificateRequest> requests;
};

}  // namespace certinbox::pipeline
