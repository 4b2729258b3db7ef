// What one file may cost to parse: key derivations read from its ASN.1 and refused above the
// caps before any runs, a total for the whole file, and the caller's interrupt between steps.
// Internal to the pipeline.
#pragma once

#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <cstdint>
#include <string_view>

#include "base/error.h"
#include "pipeline/error.h"
#include "pipeline/ossl.h"
#include "pipeline/parse.h"

namespace certinbox::pipeline {

class ParseBudget {
 public:
  explicit ParseBudget(const ParseOptions& options) : options_(options) {}
  ParseBudget(const ParseBudget&) = delete;
  ParseBudget& operator=(const ParseBudget&) = delete;

  // Between steps (each object, PEM block, password candidate, bag): the error the caller's
  // interrupt returns, if any.
  base::Result<void> Check() const;

  // Whether `algorithm` (a password-based encryption AlgorithmIdentifier: PKCS#12 PBE, PKCS#5
  // v1 PBE, or PBES2 with PBKDF2 or scrypt) is within the caps. Does not count it. Fails with
  // kdf_too_expensive. Algorithms it does not know cost nothing here (OpenSSL refuses them
  // without deriving a key). `what` names the object in the sentence.
  base::Result<void> Admit(const X509_ALGOR* algorithm, std::string_view what) const;
  // The same for a PKCS#12 MAC (its iteration count).
  base::Result<void> AdmitMac(const PKCS12* p12) const;

  // Admit, then counts one derivation of `algorithm` (or of the MAC) towards the file's total:
  // kdf_too_expensive when the total would pass max_file_kdf_iterations. Then Check(). Call
  // right before the OpenSSL call that derives the key.
  base::Result<void> Charge(const X509_ALGOR* algorithm, std::string_view what);
  base::Result<void> ChargeMac(const PKCS12* p12);

 private:
  // The cost of one derivation in PBKDF2 iterations (scrypt: by KdfLimits' fixed reference),
  // or the error when it is above a cap.
  base::Result<uint64_t> Cost(const X509_ALGOR* algorithm, std::string_view what) const;
  base::Result<uint64_t> MacCost(const PKCS12* p12) const;
  base::Result<void> Spend(uint64_t cost, std::string_view what);

  const ParseOptions& options_;
  uint64_t spent_ = 0;  // PBKDF2 iterations of every derivation charged so far
};

}  // namespace certinbox::pipeline
