// Files whose key derivations cost what a test needs: made with a chosen iteration count, or
// with the count rewritten in the DER of a real file (nothing else changed, so a rewritten file
// costs what its new count says before any check fails), as a hostile dropper would.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "tests/testing/test_ca.h"

namespace certinbox::testing {

// EncryptedPrivateKeyInfo (DER) with PBES2, PBKDF2-HMAC-SHA256 `iterations`, AES-256-CBC.
// Making it costs one derivation at that count.
std::string KeyPbkdf2Pkcs8Der(EVP_PKEY* key, std::string_view password, uint64_t iterations);
// The same with scrypt (N, r, p).
std::string KeyScryptPkcs8Der(EVP_PKEY* key, std::string_view password, uint64_t n, uint64_t r,
                              uint64_t p);
// `der` (an EncryptedPrivateKeyInfo) with its PBKDF2 count, or its scrypt N, set to `count`.
std::string WithPkcs8Count(std::string_view der, uint64_t count);
// "-----BEGIN label-----" PEM of `der`.
std::string PemOfDer(std::string_view label, std::string_view der);

// A PKCS#12 like MakePkcs12 (AES-256, HMAC-SHA256 MAC) with `iterations` for its encrypted
// safes and shrouded key and `mac_iterations` for its MAC.
std::string MakePkcs12Iterations(const Issued& cert, std::string_view password, uint64_t iterations,
                                 uint64_t mac_iterations);
// `pfx` with its MAC iteration count set to `count`.
std::string WithMacCount(std::string_view pfx, uint64_t count);
// `pfx` with the PBKDF2 count of every encrypted safe and shrouded key in a plain safe set.
std::string WithBagCount(std::string_view pfx, uint64_t count);

}  // namespace certinbox::testing
