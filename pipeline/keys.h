// Private keys: decoding DER (reusing per-thread OSSL_DECODER contexts), decrypting, and
// summarising. Internal to the pipeline.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "pipeline/error.h"
#include "pipeline/types.h"

namespace certinbox::pipeline {

class ParseBudget;

enum class KeyStructure {
  kPkcs8,  // PrivateKeyInfo ("PRIVATE KEY")
  kPkcs1,  // RSAPrivateKey ("RSA PRIVATE KEY")
  kSec1,   // ECPrivateKey ("EC PRIVATE KEY")
};

// Decodes an unencrypted private key from DER that must be exactly one key. nullptr when it
// is not (the OpenSSL error queue is left empty). Thread-safe: each thread keeps its own
// decoder contexts, because creating one costs ten times the decoding.
// For kPkcs8, `whole_pkcs8` (when given) is set to IsPkcs8(der), found on the way.
EvpPkeyPtr DecodePrivateKeyDer(std::string_view der, KeyStructure structure,
                               bool* whole_pkcs8 = nullptr);

// True when `der` is exactly one EncryptedPrivateKeyInfo (PKCS#8 with a password).
bool IsEncryptedPkcs8(std::string_view der);

// Decrypts an EncryptedPrivateKeyInfo with `passwords`, then the empty password, and returns
// the unencrypted PKCS#8 DER. Its key derivation is judged by `budget` before the first
// candidate and charged for each. Fails with key_password_required (no passwords were given
// and the empty one does not fit), key_bad_password, bad_key, kdf_too_expensive, or the
// budget's interrupt.
base::Result<SecretBytes> DecryptPkcs8(std::string_view der,
                                       const std::vector<SecretBytes>& passwords,
                                       ParseBudget& budget);

// Reads a PEM key with legacy OpenSSL encryption ("Proc-Type: 4,ENCRYPTED" headers) from the
// block's text, with the same passwords and failures as DecryptPkcs8 (its derivation is one
// MD5 round: only the budget's interrupt is asked, between candidates).
base::Result<EvpPkeyPtr> DecryptLegacyPemKey(std::string_view pem_text,
                                             const std::vector<SecretBytes>& passwords,
                                             ParseBudget& budget);

// Fills a PrivateKey for `key`. pkcs8_der: the key's unencrypted PKCS#8 DER when the caller
// has it (it must be exactly that); empty: it is encoded here. Fails with bad_key.
base::Result<PrivateKey> MakePrivateKey(EvpPkeyPtr key, SecretBytes pkcs8_der);

// True when `der` is exactly one PKCS#8 PrivateKeyInfo.
bool IsPkcs8(std::string_view der);

// SubjectPublicKeyInfo DER of the public half of `key`; "" on failure. RSA, EC (named curves)
// and EdDSA/XDH keys are encoded directly (fast); others go through OSSL_ENCODER.
std::string SpkiDer(EVP_PKEY* key);

}  // namespace certinbox::pipeline
