#include "pipeline/validate.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string_view>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/hex.h"
#include "base/text.h"
#include "base/time.h"
#include "pipeline/describe.h"
#include "pipeline/signature_memo.h"

// Findings about the chain, as decided here:
// - self_signed: the certificate itself is self-signed and not a trust anchor, whether it is
//   a leaf or a CA root the user dropped or stored. For a root that is all there is to say,
//   so it does not also get untrusted_root.
// - untrusted_root: the chain built from the certificate ends at a self-signed root (from
//   the drop or the stored CAs) that is not a trust anchor.
// - chain_incomplete: an issuer along the way was found nowhere (drop, stored CAs, anchors).
// - weak_signature: MD2/MD4/MD5/SHA-1 on the certificate or on any certificate above it that
//   is not a trust anchor (an anchor is trusted as a key, not for its signature).
// - weak_key: the certificate's own key only: RSA/DSA below 2048 bits, EC below 256.
// Dates are checked here against options.now, not by OpenSSL: its time errors are ignored so
// they never stop chain building, and signatures are checked by VerifyChainSignatures below.

namespace certinbox::pipeline {

using Status = base::Result<void>;

namespace {

// Names and subjects in sentences come from the file: each cut short, and a list of them too.
constexpr size_t kMaxNameEcho = 128;
constexpr size_t kMaxNamesEchoed = 3;

constexpr int kMaxChainDepth = 16;

struct CertStackFree {  // the stack borrows its certificates
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
};
using BorrowedCertStack = std::unique_ptr<STACK_OF(X509), CertStackFree>;

struct VerifyProblem {
  int error = 0;
  X509* cert = nullptr;  // borrowed from the chain while the X509_STORE_CTX lives
};

// Digests of the certificates a chain may hold that are already at hand: the drop's own
// (from their CertificateInfo) and the stored CAs (from the TrustContext).
class KnownCertificates {
 public:
  KnownCertificates(const ParsedFile& file, const TrustContext& trust)
      : file_(file), trust_(trust) {
    for (size_t i = 0; i < file.certificates.size(); ++i) {
      drop_index_.emplace(file.certificates[i].x509.get(), i);
    }
  }
  bool InDrop(const X509* cert) const { return drop_index_.contains(cert); }

  // SHA-256 of the DER and of the SubjectPublicKeyInfo, lowercase hex; "" when not known.
  std::string_view Sha256(const X509* cert) const {
    if (auto it = drop_index_.find(cert); it != drop_index_.end()) {
      return file_.certificates[it->second].info.fingerprint_sha256;
    }
    const TrustContext::Digests* stored = trust_.StoredCaDigests(cert);
    return stored != nullptr ? std::string_view(stored->sha256) : std::string_view();
  }
  std::string_view SpkiSha256(const X509* cert) const {
    if (auto it = drop_index_.find(cert); it != drop_index_.end()) {
      return file_.certificates[it->second].info.spki_sha256;
    }
    const TrustContext::Digests* stored = trust_.StoredCaDigests(cert);
    return stored != nullptr ? std::string_view(stored->spki_sha256) : std::string_view();
  }

 private:
  const ParsedFile& file_;
  const TrustContext& trust_;
  std::unordered_map<const X509*, size_t> drop_index_;
};

struct VerifyRecord {
  std::vector<VerifyProblem> problems;
  const KnownCertificates* known = nullptr;
};

// Records every problem and lets verification go on, so the whole chain gets built.
int RecordAndContinue(int ok, X509_STORE_CTX* ctx) {
  if (ok == 0) {
    auto* record = static_cast<VerifyRecord*>(X509_STORE_CTX_get_app_data(ctx));
    record->problems.push_back(
        {X509_STORE_CTX_get_error(ctx), X509_STORE_CTX_get_current_cert(ctx)});
  }
  return 1;
}

// Stands in for OpenSSL's internal_verify (X509_STORE_CTX_set_verify): checks every signature
// of the built chain through the memo, and no dates (Validate checks those against
// options.now). Problems are recorded like the callback's, and verification goes on.
int VerifyChainSignatures(X509_STORE_CTX* ctx) {
  auto* record = static_cast<VerifyRecord*>(X509_STORE_CTX_get_app_data(ctx));
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
  int length = chain != nullptr ? sk_X509_num(chain) : 0;
  int untrusted = X509_STORE_CTX_get_num_untrusted(ctx);
  for (int depth = 0; depth < length; ++depth) {
    X509* subject = sk_X509_value(chain, depth);
    X509* issuer = nullptr;
    if (depth + 1 < length) {
      issuer = sk_X509_value(chain, depth + 1);
    } else if (depth < untrusted && (X509_get_extension_flags(subject) & EXFLAG_SS) != 0) {
      // A self-signed root that is not an anchor: its own signature is checked too, so a
      // damaged root is not silently accepted. Anchors are trusted by key.
      issuer = subject;
    }
    if (issuer != nullptr &&
        !VerifiedSignature(subject, issuer,
                           {record->known->Sha256(subject), record->known->SpkiSha256(issuer)})) {
      record->problems.push_back({X509_V_ERR_CERT_SIGNATURE_FAILURE, subject});
    }
  }
  return 1;
}

bool IsWeakDigest(int md_nid) {
  return md_nid == NID_md2 || md_nid == NID_md4 || md_nid == NID_md5 || md_nid == NID_sha1 ||
         md_nid == NID_md5_sha1;
}

bool HasWeakSignature(X509* cert) {
  int md_nid = NID_undef;
  if (X509_get_signature_info(cert, &md_nid, nullptr, nullptr, nullptr) != 1) {
    ERR_clear_error();
    int pk_nid = NID_undef;
    if (OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, &pk_nid) != 1) return false;
  }
  return IsWeakDigest(md_nid);
}

bool HasWeakKey(const CertificateInfo& info) {
  const std::string& alg = info.key_algorithm;
  if (alg == "RSA" || alg == "RSA-PSS" || alg == "DSA") return info.key_bits < 2048;
  if (alg == "EC" || alg == "SM2") return info.key_bits < 256;
  return false;
}

std::string CertName(X509* cert) {
  std::string subject = NameToString(X509_get_subject_name(cert));
  return "\"" + subject + "\"";
}

std::string ChainFingerprint(X509* cert, const KnownCertificates& known) {
  std::string_view sha256 = known.Sha256(cert);
  if (!sha256.empty() || known.InDrop(cert)) return std::string(sha256);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, ThreadSha256(), md, &len) != 1) {
    DrainOpensslErrors();
    return {};
  }
  return base::HexLower(md, len);
}

class ChainChecker {
 public:
  ChainChecker(const ParsedFile& file, const TrustContext& trust, const ValidationOptions& options)
      : file_(file),
        trust_(trust),
        options_(options),
        untrusted_(sk_X509_new_null()),
        known_(file, trust) {
    // The drop's own certificates first: its chain is the one the user meant.
    for (size_t i = 0; i < file.certificates.size(); ++i) {
      sk_X509_push(untrusted_.get(), file.certificates[i].x509.get());
    }
    if (STACK_OF(X509)* stored = trust.stored_cas()) {
      for (int i = 0; i < sk_X509_num(stored); ++i) {
        sk_X509_push(untrusted_.get(), sk_X509_value(stored, i));
      }
    }
  }

  // Builds the chain of certificate `index` and adds chain findings and fingerprints.
  Status Check(size_t index, ValidatedCertificate& out) {
    X509* cert = file_.certificates[index].x509.get();
    X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), trust_.anchors(), cert, untrusted_.get()) != 1) {
      return base::Fail(base::code::kInternalError,
                        "chain building could not start: " + DrainOpensslErrors());
    }
    VerifyRecord record;
    record.known = &known_;
    X509_STORE_CTX_set_app_data(ctx.get(), &record);
    X509_STORE_CTX_set_verify_cb(ctx.get(), RecordAndContinue);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(options_.now));
    X509_VERIFY_PARAM_set_depth(param, kMaxChainDepth);
    X509_STORE_CTX_set_verify(ctx.get(), VerifyChainSignatures);
    X509_verify_cert(ctx.get());  // the outcome is in `record`
    ERR_clear_error();

    for (const VerifyProblem& problem : record.problems) {
      switch (problem.error) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
          out.findings.push_back(kChainIncomplete);
          break;
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
          out.findings.push_back(kSelfSigned);
          break;
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
          out.findings.push_back(kUntrustedRoot);
          break;
        case X509_V_ERR_CERT_SIGNATURE_FAILURE: {
          std::string name = problem.cert != nullptr
                                 ? base::Escape(base::Shorten(CertName(problem.cert), kMaxNameEcho))
                                 : "a certificate";
          return base::Fail(base::code::kBadSignature,
                            "the signature of " + name +
                                " does not verify with the key of the issuer it names: the file is "
                                "corrupt, or the certificate was not issued by that CA");
        }
        default:
          break;  // time errors (checked by Validate), purpose and policy errors: not findings
      }
    }

    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
    int length = chain != nullptr ? sk_X509_num(chain) : 0;
    int untrusted = X509_STORE_CTX_get_num_untrusted(ctx.get());
    if (length == 0 && HasWeakSignature(cert)) out.findings.push_back(kWeakSignature);
    for (int i = 0; i < length; ++i) {
      X509* member = sk_X509_value(chain, i);
      if (i < untrusted && HasWeakSignature(member)) out.findings.push_back(kWeakSignature);
      if (i > 0) out.chain.push_back(ChainFingerprint(member, known_));
    }
    return {};
  }

 private:
  const ParsedFile& file_;
  const TrustContext& trust_;
  const ValidationOptions& options_;
  BorrowedCertStack untrusted_;
  KnownCertificates known_;
};

Status CheckDates(const CertificateInfo& info, const ValidationOptions& options,
                  ValidatedCertificate& out) {
  if (options.now > info.not_after) {
    if (!options.accept_expired) {
      return base::Fail(base::code::kExpired,
                        "the certificate " +
                            base::Escape(base::Shorten(DisplayName(info), kMaxNameEcho)) + " (" +
                            base::Escape(base::Shorten(info.subject, kMaxNameEcho)) +
                            ") expired on " + base::FormatRfc3339(info.not_after) +
                            ": drop its renewal, or set accept_expired = true on the inbox "
                            "to keep expired certificates");
    }
    out.findings.push_back(kExpiredFinding);
  }
  if (options.now < info.not_before) out.findings.push_back(kNotYetValid);
  return {};
}

// Pairs keys with certificates by public key.
Status MatchKeys(const ParsedFile& file, Validation& result) {
  std::multimap<std::string_view, size_t> by_spki;
  for (size_t i = 0; i < file.certificates.size(); ++i) {
    by_spki.emplace(file.certificates[i].info.spki_sha256, i);
  }
  for (size_t k = 0; k < file.keys.size(); ++k) {
    const PrivateKey& key = file.keys[k];
    auto [first, last] = by_spki.equal_range(key.spki_sha256);
    if (first == last) {
      if (file.certificates.empty()) {
        result.unmatched_keys.push_back(k);
        continue;
      }
      std::string names;
      for (size_t i = 0; i < file.certificates.size() && i < kMaxNamesEchoed; ++i) {
        names += (names.empty() ? "" : ", ") +
                 base::Escape(base::Shorten(DisplayName(file.certificates[i].info), kMaxNameEcho));
      }
      if (file.certificates.size() > kMaxNamesEchoed) {
        names += " and " + std::to_string(file.certificates.size() - kMaxNamesEchoed) + " more";
      }
      return base::Fail(base::code::kKeyMismatch,
                        "the " + key.algorithm + " " + std::to_string(key.bits) +
                            "-bit private key (public key sha256 " + key.spki_sha256.substr(0, 16) +
                            "...) belongs to none of the certificates in the file (" + names +
                            "): drop the key with the certificate that was issued for it");
    }
    for (auto it = first; it != last; ++it) {
      std::optional<size_t>& slot = result.certificates[it->second].key_index;
      if (!slot) slot = k;
    }
  }
  return {};
}

// The one place the pipeline reads files, once per TrustContext: the system bundle is loaded
// into memory, so chain building never touches the disk. Only without a bundle file does it
// fall back to the hashed directory (OpenSSL then reads it lazily, per lookup).
void LoadSystemStore(X509_STORE* store) {
  const char* file = std::getenv(X509_get_default_cert_file_env());
  if (file == nullptr) file = X509_get_default_cert_file();
  if (X509_STORE_load_file(store, file) != 1) {
    ERR_clear_error();
    X509_STORE_set_default_paths(store);
  }
  ERR_clear_error();
}

X509Ptr DecodeSharedCertificate(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  // Cache extensions and the public key now: later the certificate is shared between
  // threads, and a warm certificate is only read.
  if (cert) {
    X509_check_purpose(cert.get(), -1, 0);
    X509_get0_pubkey(cert.get());
  }
  return cert;
}

// What ChainFingerprint and the signature memo would compute for `cert`; empty strings when
// either cannot be computed (they are then computed, or fail, where they are needed).
TrustContext::Digests DigestsOf(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  unsigned char* spki = nullptr;
  int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
  if (X509_digest(cert, ThreadSha256(), md, &len) != 1 || spki_len <= 0) {
    OPENSSL_free(spki);
    ERR_clear_error();
    return {};
  }
  TrustContext::Digests digests;
  digests.sha256 = base::HexLower(md, len);
  digests.spki_sha256 = Sha256Hex({reinterpret_cast<char*>(spki), static_cast<size_t>(spki_len)});
  OPENSSL_free(spki);
  if (digests.spki_sha256.empty()) return {};
  return digests;
}

}  // namespace

std::shared_ptr<const TrustContext> TrustContext::Create(
    const std::vector<std::string>& stored_ca_der, bool use_system_store,
    const std::vector<std::string>& extra_anchor_der) {
  std::shared_ptr<TrustContext> trust(new TrustContext());
  trust->anchors_.reset(X509_STORE_new());
  if (trust->anchors_ && use_system_store) LoadSystemStore(trust->anchors_.get());
  for (const std::string& der : extra_anchor_der) {
    if (X509Ptr cert = DecodeSharedCertificate(der); cert && trust->anchors_) {
      X509_STORE_add_cert(trust->anchors_.get(), cert.get());  // the store takes a reference
    }
  }
  trust->AddStoredCas(stored_ca_der);
  return trust;
}

std::shared_ptr<const TrustContext> TrustContext::WithStoredCas(
    const std::vector<std::string>& stored_ca_der) const {
  std::shared_ptr<TrustContext> trust(new TrustContext());
  if (anchors_ && X509_STORE_up_ref(anchors_.get()) == 1) trust->anchors_.reset(anchors_.get());
  trust->AddStoredCas(stored_ca_der);
  return trust;
}

void TrustContext::AddStoredCas(const std::vector<std::string>& stored_ca_der) {
  stored_cas_ = sk_X509_new_null();
  for (const std::string& der : stored_ca_der) {
    if (X509Ptr cert = DecodeSharedCertificate(der); cert && stored_cas_ != nullptr) {
      Digests digests = DigestsOf(cert.get());
      if (sk_X509_push(stored_cas_, cert.get()) > 0) {
        if (!digests.sha256.empty()) stored_digests_.emplace(cert.get(), std::move(digests));
        cert.release();
      }
    }
  }
  ERR_clear_error();
}

const TrustContext::Digests* TrustContext::StoredCaDigests(const X509* cert) const {
  auto it = stored_digests_.find(cert);
  return it != stored_digests_.end() ? &it->second : nullptr;
}

TrustContext::~TrustContext() { sk_X509_pop_free(stored_cas_, X509_free); }

base::Result<Validation> Validate(const ParsedFile& file, const TrustContext& trust,
                                  const ValidationOptions& options) {
  ERR_clear_error();
  Validation result;
  result.certificates.resize(file.certificates.size());
  if (auto ok = MatchKeys(file, result); !ok) return std::unexpected(ok.error());

  ChainChecker chains(file, trust, options);
  for (size_t i = 0; i < file.certificates.size(); ++i) {
    const CertificateInfo& info = file.certificates[i].info;
    ValidatedCertificate& out = result.certificates[i];
    out.index = i;
    if (auto ok = CheckDates(info, options, out); !ok) return std::unexpected(ok.error());
    if (HasWeakKey(info)) out.findings.push_back(kWeakKey);
    if (auto ok = chains.Check(i, out); !ok) return std::unexpected(ok.error());
    std::sort(out.findings.begin(), out.findings.end());
    out.findings.erase(std::unique(out.findings.begin(), out.findings.end()), out.findings.end());
  }
  ERR_clear_error();
  return result;
}

}  // namespace certinbox::pipeline
