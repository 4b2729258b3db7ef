// Decoded certificates remembered per thread. Internal to the pipeline.
//
// OpenSSL 3.0 builds a fresh OSSL_DECODER for the public key of every d2i_X509, which makes
// decoding a certificate costly even in the certificate context (certificate_provider.h). Drops
// repeat the same intermediates and roots (fullchain.pem, .pfx with chain) thousands of times, so a
// certificate already seen on this thread, identified by the SHA-256 of its DER, is shared
// (X509_up_ref) instead of decoded again. Shared X509 objects are only ever read.
#pragma once

#include <string>

#include "pipeline/types.h"

namespace certinbox::pipeline {

// On a hit, sets `cert` to a new reference and `info` to the remembered summary.
bool FindCachedCertificate(const std::string& fingerprint, X509Ptr& cert, CertificateInfo& info);

// Remembers `cert` (takes its own reference) and `info` under info.fingerprint_sha256.
void CacheCertificate(X509* cert, const CertificateInfo& info);

}  // namespace certinbox::pipeline
