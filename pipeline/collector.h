// Collects the objects of one file as they are decoded, enforcing max_objects (and asking the
// budget's interrupt) before each one is decoded. Internal to the pipeline.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "pipeline/budget.h"
#include "pipeline/error.h"
#include "pipeline/keys.h"
#include "pipeline/parse.h"
#include "pipeline/types.h"

namespace certinbox::pipeline {

using Status = base::Result<void>;

class Collector {
 public:
  // `budget` is the whole file's: every Collector of one parse shares it.
  Collector(const ParseOptions& options, ParseBudget& budget)
      : options_(options), budget_(budget) {}

  const ParseOptions& options() const { return options_; }
  ParseBudget& budget() const { return budget_; }
  size_t count() const { return count_; }

  // Fails with too_many_objects when `n` more objects would pass max_objects, or with the
  // budget's interrupt. Call before decoding them.
  Status Reserve(size_t n);

  // Each Add* reserves one object, decodes it and records it. `where` names the object in
  // sentences ("PEM block 2 (CERTIFICATE)").
  Status AddCertificateDer(std::string der, std::string_view where);
  // An already decoded certificate; der: its DER when at hand, else "" (it is encoded here).
  Status AddCertificate(X509Ptr cert, std::string der, std::string_view where);
  Status AddRequestDer(std::string_view der, std::string_view where);
  Status AddRequest(X509ReqPtr req, std::string_view der, std::string_view where);
  // An unencrypted private key; pkcs8_der as for MakePrivateKey.
  Status AddKey(EvpPkeyPtr key, SecretBytes pkcs8_der, std::string_view where);
  // Unencrypted PKCS#8 DER.
  Status AddPkcs8Der(SecretBytes der, std::string_view where);

  // Moves everything `other` collected to the end of this one.
  Status Append(Collector&& other);

  ParsedFile Take(std::string format);
  bool empty() const { return count_ == 0; }

 private:
  // Records a decoded certificate whose DER and its Sha256Hex are at hand.
  void Record(X509Ptr cert, std::string der, std::string fingerprint_sha256);

  const ParseOptions& options_;
  ParseBudget& budget_;
  ParsedFile file_;
  size_t count_ = 0;
};

}  // namespace certinbox::pipeline
