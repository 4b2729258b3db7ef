// Parse: bytes of one dropped file -> every object in it. Pure: no files, no clock.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "pipeline/error.h"
#include "pipeline/types.h"

namespace certinbox::pipeline {

// What the key derivations of password-protected objects (PKCS#12 MACs and bags, encrypted
// PKCS#8 keys) may cost. Their parameters are read from the file before any derivation runs;
// one above a cap, or one that would take the file past its total, fails with
// kdf_too_expensive.
struct KdfLimits {
  // What a scrypt costs in PBKDF2 iterations, fixed whatever the caps: N x r x p of
  // kScryptReferenceWork (the default caps' largest, N 2^20 and r 8: seconds and 1 GiB) counts
  // as kScryptReferenceIterations, which take about as long.
  static constexpr uint64_t kScryptReferenceWork = uint64_t{8} << 20;
  static constexpr uint64_t kScryptReferenceIterations = 10'000'000;
  // PBKDF2 and PKCS#12 KDF iterations of one derivation (MAC included). `openssl pkcs12
  // -iter 10000000` files stay within it.
  uint64_t max_iterations = 10'000'000;
  // scrypt's N of one derivation; N x r x p is held to 8 x max_scrypt_n (N = 2^20, r = 8, p = 1
  // at most).
  uint64_t max_scrypt_n = uint64_t{1} << 20;
  // Every derivation of one file together (each password candidate tried counts), in PBKDF2
  // iterations (a scrypt as kScryptReferenceIterations x N x r x p / kScryptReferenceWork).
  uint64_t max_file_iterations = 30'000'000;
};

struct ParseOptions {
  // Candidate passwords for PKCS#12 files and encrypted PKCS#8 keys, in the order to try them
  // (sidecar, then the inbox's password_file). Parse tries the empty and the absent password
  // after these on its own.
  std::vector<SecretBytes> passwords;
  size_t max_objects = 1000;  // more objects than this in one file: "too_many_objects"
  KdfLimits kdf;
  // Asked between steps (each PEM block, object, password candidate, bag and key derivation);
  // an error it returns ends the parse with that error (the caller's deadline or shutdown). It
  // runs on the parsing thread. Empty: never interrupted.
  std::function<std::optional<base::Error>()> interrupt;
  // Asked before each key derivation, once the caps and the file's total allowed it, with its
  // cost in PBKDF2 iterations (a scrypt as KdfLimits says); an error it returns ends the parse
  // with that error (the caller may hold expensive parses to a number at once). It runs on the
  // parsing thread. Empty: nothing is asked.
  std::function<std::optional<base::Error>(uint64_t iterations)> before_derivation;
};

// Finds the format from the content (PEM, DER certificate/key/CSR, PKCS#12, PKCS#7) and
// returns every object. Thread-safe; may run on libuv's thread pool.
// Failure reason codes: empty_file, unrecognized_format, malformed_pem, bad_certificate,
// bad_key, bad_csr, pkcs12_bad_password, pkcs12_malformed, pkcs7_malformed,
// key_password_required, key_bad_password, too_many_objects, unsupported_object,
// kdf_too_expensive, and whatever code options.interrupt returns.
base::Result<ParsedFile> ParseFile(std::string_view bytes, const ParseOptions& options);

// Summary of one X509 (fingerprints, names, SANs, dates, key, signature algorithm).
CertificateInfo DescribeCertificate(X509* cert);

// Lowercase hex SHA-256 of the SubjectPublicKeyInfo of a key (public half only).
std::string SpkiSha256(EVP_PKEY* key);

}  // namespace certinbox::pipeline
