// Certificate signing requests made here (`certinbox csr create`): checking what was asked,
// generating the key and building the signed PKCS#10 request. Pure functions, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "pipeline/error.h"
#include "pipeline/types.h"

namespace certinbox::pipeline {

// What a user asks for. Subject fields left empty are omitted.
struct CsrSpec {
  std::string key_type = "rsa-2048";  // rsa-2048 | rsa-3072 | rsa-4096 | ec-p256 | ec-p384
  std::string common_name;            // CN, required
  std::vector<std::string> sans;      // "DNS:a.example", "IP:192.0.2.1", "URI:...", "email:...",
                                      // or a bare name (DNS)
  bool cn_as_san = true;              // add DNS:<CN> to the SANs when the CN is a host name
  std::string organization, organizational_unit, locality, state, country, email;
};

// The spec checked and normalised: SANs typed ("DNS:..."), without duplicates, the CN's DNS
// SAN first when cn_as_san added it, IP addresses in canonical form.
struct CheckedCsrSpec {
  CsrSpec spec;
  std::vector<std::string> sans;
};

// Checks a spec before any key is made. Errors (code, then what the sentence says):
//   csr_bad_key_type  unknown key type (the known ones are listed)
//   csr_bad_subject   empty or too long CN, a country that is not two letters, a field over
//                     64 characters, control characters
//   csr_bad_san       unknown SAN type, empty value, an IP that is not IPv4/IPv6, a URI without
//                     a scheme, an email without '@', a DNS name with spaces
base::Result<CheckedCsrSpec> CheckCsrSpec(CsrSpec spec);

// Whether `text` names a key type CheckCsrSpec accepts.
bool IsCsrKeyType(std::string_view text);

struct GeneratedCsr {
  PrivateKey key;       // the new key (pkcs8_der filled), to be sealed by the vault
  std::string der;      // PKCS#10 DER
  std::string pem;      // "-----BEGIN CERTIFICATE REQUEST-----" ...
  std::string subject;  // RFC 2253, as CertificateInfo::subject
  std::string subject_cn;
  std::vector<std::string> sans;
};

// Generates the key of spec.key_type and the CSR signed with it (SHA-256). CPU work (RSA-4096
// takes seconds): the daemon runs it on libuv's thread pool. Thread-safe. Fails with
// csr_keygen_failed or csr_build_failed (OpenSSL's reasons in the sentence).
base::Result<GeneratedCsr> GenerateCsr(const CheckedCsrSpec& checked);

// PEM of a CSR's DER ("CERTIFICATE REQUEST").
std::string CsrPem(std::string_view der);

}  // namespace certinbox::pipeline
