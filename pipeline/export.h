// Export formats: PEM of a private key and a PKCS#12 bundle, built from stored DER. Pure
// functions, no I/O; used by the daemon's `export` op.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "pipeline/error.h"
#include "pipeline/types.h"

namespace certinbox::pipeline {

// "-----BEGIN <label>-----\n", base64 in 64-column lines, "-----END <label>-----\n".
std::string PemEncode(std::string_view label, std::string_view der);

// Base64 without line breaks (PKCS#12 in a JSON reply).
std::string Base64(std::string_view bytes);

// "-----BEGIN PRIVATE KEY-----" PEM of unencrypted PKCS#8 DER; wiped when freed.
SecretBytes PrivateKeyPem(std::string_view pkcs8_der);

// A PKCS#12 (DER) with the certificate, its key and the chain certificates (issuer first),
// protected by `password` with OpenSSL 3's defaults (PBES2 AES-256-CBC, PBKDF2, HMAC-SHA256
// MAC). `friendly_name` labels the key and certificate. Fails with pkcs12_build_failed
// (bad DER, a key that does not match the certificate, or OpenSSL's reason).
base::Result<std::string> BuildPkcs12(std::string_view cert_der,
                                      const std::vector<std::string>& chain_der,
                                      std::string_view key_pkcs8_der, std::string_view password,
                                      const std::string& friendly_name);

}  // namespace certinbox::pipeline
