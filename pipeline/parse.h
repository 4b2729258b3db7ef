// Parse: bytes of one dropped file -> every object in it. Pure: no files, no clock.
#pragma once

#include <string_view>
#include <vector>

#include "pipeline/error.h"
#include "pipeline/types.h"

namespace certinbox::pipeline {

struct ParseOptions {
  // Candidate passwords for PKCS#12 files and encrypted PKCS#8 keys, in the order to try them
  // (sidecar, then the inbox's password_file). Parse tries the empty and the absent password
  // after these on its own.
  std::vector<SecretBytes> passwords;
  size_t max_objects = 1000;  // more objects than this in one file: "too_many_objects"
};

// Finds the format from the content (PEM, DER certificate/key/CSR, PKCS#12, PKCS#7) and
// returns every object. Thread-safe; may run on libuv's thread pool.
// Failure reason codes: empty_file, unrecognized_format, malformed_pem, bad_certificate,
// bad_key, bad_csr, pkcs12_bad_password, pkcs12_malformed, pkcs7_malformed,
// key_password_required, key_bad_password, too_many_objects, unsupported_object.
Result<ParsedFile> ParseFile(std::string_view bytes, const ParseOptions& options);

// Summary of one X509 (fingerprints, names, SANs, dates, key, signature algorithm).
CertificateInfo DescribeCertificate(X509* cert);

// Lowercase hex SHA-256 of the SubjectPublicKeyInfo of a key (public half only).
std::string SpkiSha256(EVP_PKEY* key);

}  // namespace certinbox::pipeline
