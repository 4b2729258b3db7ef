#include "pipeline/cert_cache.h"

#include <unordered_map>

#include "pipeline/shutdown.h"

namespace certinbox::pipeline {
namespace {

// Small on purpose: it only has to hold the CAs that are being dropped right now. When it is
// full it starts over, which is simpler than LRU and as good for that traffic.
constexpr size_t kMaxCertificates = 128;

struct Entry {
  X509Ptr cert;
  CertificateInfo info;
};

struct ThreadCache {
  std::unordered_map<std::string, Entry> entries;
  ~ThreadCache() {
    if (!OpensslShuttingDown()) return;
    for (auto& [fingerprint, entry] : entries) (void)entry.cert.release();  // see shutdown.h
  }
};

thread_local ThreadCache t_cache;

}  // namespace

bool FindCachedCertificate(const std::string& fingerprint, X509Ptr& cert, CertificateInfo& info) {
  auto it = t_cache.entries.find(fingerprint);
  if (it == t_cache.entries.end()) return false;
  X509_up_ref(it->second.cert.get());
  cert.reset(it->second.cert.get());
  info = it->second.info;
  return true;
}

void CacheCertificate(X509* cert, const CertificateInfo& info) {
  if (info.fingerprint_sha256.empty()) return;
  if (t_cache.entries.size() >= kMaxCertificates) t_cache.entries.clear();
  X509_up_ref(cert);
  t_cache.entries.insert_or_assign(info.fingerprint_sha256, Entry{X509Ptr(cert), info});
}

}  // namespace certinbox::pipeline
