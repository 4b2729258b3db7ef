// Certificate signature checks, remembered. Internal to the pipeline.
#pragma once

#include <openssl/x509.h>

namespace certinbox::pipeline {

// True when `subject` carries a valid signature made with the key of `issuer` (which may be
// `subject` itself). Successes are remembered process-wide, keyed by the SHA-256 of the
// subject's DER and of the issuer's SubjectPublicKeyInfo, so an intermediate shared by
// thousands of drops is verified once: the answer is a pure function of those bytes.
// Failures are not remembered. Thread-safe; the OpenSSL error queue is left empty.
bool VerifiedSignature(X509* subject, X509* issuer);

}  // namespace certinbox::pipeline
