#include "pipeline/collector.h"

#include <openssl/x509v3.h>

#include "base/error.h"
#include "base/error_codes.h"
#include "pipeline/cert_cache.h"
#include "pipeline/describe.h"

namespace certinbox::pipeline {
namespace {

struct ExtensionsFree {
  void operator()(STACK_OF(X509_EXTENSION) * s) const {
    sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
  }
};
using ExtensionsPtr = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtensionsFree>;

std::vector<std::string> RequestSans(X509_REQ* req) {
  ExtensionsPtr exts(X509_REQ_get_extensions(req));
  if (!exts) return {};
  int index = X509v3_get_ext_by_NID(exts.get(), NID_subject_alt_name, -1);
  if (index < 0) return {};
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(X509v3_get_ext(exts.get(), index))));
  if (!names) return {};
  return DescribeGeneralNames(names.get());
}

}  // namespace

Status Collector::Reserve(size_t n) {
  if (auto ok = budget_.Check(); !ok) return ok;
  if (count_ + n > options_.max_objects) {
    return base::Fail(base::code::kTooManyObjects,
                      "the file holds more than " + std::to_string(options_.max_objects) +
                          " objects (certificates, keys, requests): split it into smaller files");
  }
  return {};
}

Status Collector::AddCertificateDer(std::string der, std::string_view where) {
  if (auto ok = Reserve(1); !ok) return ok;
  Certificate cached;
  std::string fingerprint = Sha256Hex(der);
  if (FindCachedCertificate(fingerprint, cached.x509, cached.info)) {
    cached.der = std::move(der);
    file_.certificates.push_back(std::move(cached));
    ++count_;
    return {};
  }
  X509Ptr cert = DecodeCertificateDer(der);
  if (!cert) {
    std::string detail = DrainOpensslErrors();
    return base::Fail(base::code::kBadCertificate, std::string(where) +
                                                       " is not a valid X.509 certificate" +
                                                       (detail.empty() ? "" : ": " + detail));
  }
  Record(std::move(cert), std::move(der), std::move(fingerprint));
  const Certificate& added = file_.certificates.back();
  CacheCertificate(added.x509.get(), added.info);
  return {};
}

Status Collector::AddCertificate(X509Ptr cert, std::string der, std::string_view where) {
  if (auto ok = Reserve(1); !ok) return ok;
  if (der.empty()) {
    unsigned char* buf = nullptr;
    int len = i2d_X509(cert.get(), &buf);
    if (len <= 0) {
      return base::Fail(base::code::kBadCertificate,
                        std::string(where) + " could not be re-encoded: " + DrainOpensslErrors());
    }
    der.assign(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
    OPENSSL_free(buf);
  }
  std::string fingerprint = Sha256Hex(der);
  Record(std::move(cert), std::move(der), std::move(fingerprint));
  return {};
}

void Collector::Record(X509Ptr cert, std::string der, std::string fingerprint_sha256) {
  Certificate out;
  out.info = DescribeCertificateWithSha256(cert.get(), std::move(fingerprint_sha256));
  out.x509 = std::move(cert);
  out.der = std::move(der);
  file_.certificates.push_back(std::move(out));
  ++count_;
}

Status Collector::AddRequestDer(std::string_view der, std::string_view where) {
  if (auto ok = Reserve(1); !ok) return ok;
  const unsigned char* p = DerBytes(der);
  X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!req || p != DerBytes(der) + der.size()) {
    return base::Fail(
        base::code::kBadCsr,
        std::string(where) + " is not a valid certificate request: " + DrainOpensslErrors());
  }
  return AddRequest(std::move(req), der, where);
}

Status Collector::AddRequest(X509ReqPtr req, std::string_view der, std::string_view where) {
  if (auto ok = Reserve(1); !ok) return ok;
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr || X509_REQ_verify(req.get(), key) != 1) {
    return base::Fail(
        base::code::kBadCsr,
        std::string(where) +
            " is not signed by its own key (corrupt or tampered request): " + DrainOpensslErrors());
  }
  CertificateRequest out;
  unsigned char* spki = nullptr;
  int spki_len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req.get()), &spki);
  if (spki_len <= 0) {
    return base::Fail(base::code::kBadCsr, std::string(where) + " has an unreadable public key: " +
                                               DrainOpensslErrors());
  }
  out.spki_sha256 = Sha256Hex({reinterpret_cast<char*>(spki), static_cast<size_t>(spki_len)});
  OPENSSL_free(spki);
  out.subject = NameToString(X509_REQ_get_subject_name(req.get()));
  out.sans = RequestSans(req.get());
  out.der.assign(der);
  out.req = std::move(req);
  DrainOpensslErrors();
  file_.requests.push_back(std::move(out));
  ++count_;
  return {};
}

Status Collector::AddKey(EvpPkeyPtr key, SecretBytes pkcs8_der, std::string_view where) {
  if (auto ok = Reserve(1); !ok) return ok;
  auto made = MakePrivateKey(std::move(key), std::move(pkcs8_der));
  if (!made) {
    return base::Fail(made.error().code, std::string(where) + ": " + made.error().message);
  }
  file_.keys.push_back(std::move(*made));
  ++count_;
  return {};
}

Status Collector::AddPkcs8Der(SecretBytes der, std::string_view where) {
  if (auto ok = Reserve(1); !ok) return ok;
  EvpPkeyPtr key = DecodePrivateKeyDer(der.view(), KeyStructure::kPkcs8);
  if (!key) {
    return base::Fail(base::code::kBadKey,
                      std::string(where) + " is not a valid PKCS#8 private key");
  }
  return AddKey(std::move(key), std::move(der), where);
}

Status Collector::Append(Collector&& other) {
  if (auto ok = Reserve(other.count_); !ok) return ok;
  for (auto& c : other.file_.certificates) file_.certificates.push_back(std::move(c));
  for (auto& k : other.file_.keys) file_.keys.push_back(std::move(k));
  for (auto& r : other.file_.requests) file_.requests.push_back(std::move(r));
  count_ += other.count_;
  other.file_ = ParsedFile{};
  other.count_ = 0;
  return {};
}

ParsedFile Collector::Take(std::string format) {
  file_.format = std::move(format);
  count_ = 0;
  return std::move(file_);
}

}  // namespace certinbox::pipeline
