// Certificate signature checks, remembered. Internal to the pipeline.
#pragma once

#include <openssl/x509.h>

#include <string_view>

namespace certinbox::pipeline {

// True when `subject` carries a valid signature made with the key of `issuer` (which may be
// `subject` itself). Successes are remembered process-wide, keyed by the SHA-256 of the
// subject's DER and of the issuer's SubjectPublicKeyInfo, so an intermediate shared by
// thousands of drops is verified once: the answer is a pure function of those bytes.
// Failures are not remembered. Thread-safe; the OpenSSL error queue is left empty.
// `known`: those two digests when the caller already has them, as lowercase hex (the
// subject's may be of the DER it was decoded from); empty ones are computed here.
struct KnownDigests {
  std::string_view subject_sha256;
  std::string_view issuer_spki_sha256;
};
bool VerifiedSignature(X509* subject, X509* issuer, KnownDigests known = {});

}  // namespace certinbox::pipeline
