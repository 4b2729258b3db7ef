// Summaries of OpenSSL objects (names, SANs, digests, key algorithms). Internal to the pipeline.
#pragma once

#include <openssl/x509v3.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/time.h"
#include "pipeline/ossl.h"  // Sha256Hex
#include "pipeline/types.h"

namespace certinbox::pipeline {

// DescribeCertificate (parse.h) for a certificate whose DER is already at hand.
CertificateInfo DescribeCertificate(X509* cert, std::string_view der);
// The same, with Sha256Hex(der) already computed.
CertificateInfo DescribeCertificateWithSha256(X509* cert, std::string fingerprint_sha256);

// RFC 2253 one line, UTF-8 kept as is (not escaped to \XX).
std::string NameToString(const X509_NAME* name);

// "DNS:a.example", "IP:192.0.2.1", "IP:2001:db8::1", "URI:...", "email:..."; other kinds skipped.
std::vector<std::string> DescribeGeneralNames(const GENERAL_NAMES* names);

// "RSA", "RSA-PSS", "EC", "ED25519", "ED448", "DSA", ... (OpenSSL's name, upper case).
std::string KeyAlgorithmName(const EVP_PKEY* key);

// A short human name for a certificate in sentences: its subject, or its CN when it has one.
std::string DisplayName(const CertificateInfo& info);

}  // namespace certinbox::pipeline
