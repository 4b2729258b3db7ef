// Validate and match the objects of one drop. Pure: the time and the trust material are passed in.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/time.h"
#include "pipeline/error.h"
#include "pipeline/types.h"

namespace certinbox::pipeline {

// Trust material for chain building, shared read-only between threads once built:
// the system trust store (trust anchors) and the CA certificates the inventory holds
// (used to complete chains, not trusted by themselves).
class TrustContext {
 public:
  // stored_ca_der: DER certificates of stored `ca` entries. use_system_store: load
  // OpenSSL's default verify paths (the system trust store) as anchors. extra_anchor_der:
  // more anchors (an operator's private root; tests). DER that does not decode is skipped.
  static std::shared_ptr<const TrustContext> Create(
      const std::vector<std::string>& stored_ca_der, bool use_system_store,
      const std::vector<std::string>& extra_anchor_der = {});
  // The same anchors (shared, not loaded again: the system store takes ~100 ms to load) with
  // a new set of stored CA certificates. For when the inventory's CA entries change.
  std::shared_ptr<const TrustContext> WithStoredCas(
      const std::vector<std::string>& stored_ca_der) const;
  ~TrustContext();

  X509_STORE* anchors() const { return anchors_.get(); }
  STACK_OF(X509) * stored_cas() const { return stored_cas_; }

  // X509_digest SHA-256 of a stored CA and SHA-256 of its SubjectPublicKeyInfo DER, lowercase
  // hex, computed once when the context is built (chains name them for every drop).
  struct Digests {
    std::string sha256;
    std::string spki_sha256;
  };
  // nullptr when `cert` is not one of stored_cas().
  const Digests* StoredCaDigests(const X509* cert) const;

 private:
  TrustContext() = default;
  void AddStoredCas(const std::vector<std::string>& stored_ca_der);
  X509StorePtr anchors_;
  STACK_OF(X509) * stored_cas_ = nullptr;
  std::unordered_map<const X509*, Digests> stored_digests_;
};

struct ValidationOptions {
  base::UnixTime now = 0;
  bool accept_expired = false;
};

struct ValidatedCertificate {
  size_t index = 0;                   // into ParsedFile::certificates
  std::vector<std::string> chain;     // fingerprints from its issuer upward, as built
  std::vector<std::string> findings;  // finding codes from types.h, sorted, unique
  std::optional<size_t> key_index;    // the key of the same drop that belongs to it
};

struct Validation {
  std::vector<ValidatedCertificate> certificates;  // one per certificate in the drop
  std::vector<size_t> unmatched_keys;              // keys with no certificate in the drop
};

// Checks dates, builds and verifies chains (drop + stored CAs + anchors), records findings,
// and pairs keys with certificates of the same drop by public key.
// Rejects (reason codes): expired (unless accept_expired), key_mismatch (the drop has
// certificates and a key that belongs to none of them), bad_signature (a certificate whose
// issuer is known but whose signature does not verify).
// `no_private_key` is not decided here: whether a key is stored is the inventory's knowledge.
base::Result<Validation> Validate(const ParsedFile& file, const TrustContext& trust,
                                  const ValidationOptions& options);

}  // namespace certinbox::pipeline
