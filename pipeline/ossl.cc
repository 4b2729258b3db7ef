#include "pipeline/ossl.h"

#include <openssl/crypto.h>
#include <openssl/provider.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "pipeline/certificate_provider.h"
#include "pipeline/error.h"
#include "pipeline/shutdown.h"

namespace certinbox::pipeline {

namespace {

std::atomic<bool> g_shutting_down{false};

void Wipe(std::vector<unsigned char>& bytes) {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

}  // namespace

SecretBytes::~SecretBytes() { Wipe(bytes_); }

SecretBytes& SecretBytes::operator=(const SecretBytes& other) {
  if (this != &other) {
    Wipe(bytes_);
    bytes_.clear();
    bytes_.insert(bytes_.end(), other.bytes_.begin(), other.bytes_.end());
  }
  return *this;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe(bytes_);
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

void SecretBytes::resize(size_t n) {
  if (n <= bytes_.capacity()) {
    if (n < bytes_.size()) OPENSSL_cleanse(bytes_.data() + n, bytes_.size() - n);
    bytes_.resize(n);
    return;
  }
  std::vector<unsigned char> bigger;
  bigger.reserve(n);
  bigger.assign(bytes_.begin(), bytes_.end());
  bigger.resize(n);
  Wipe(bytes_);
  bytes_.swap(bigger);
}

bool OpensslShuttingDown() { return g_shutting_down; }

namespace {

// The two library contexts of a thread: `general` with the "default" provider, and
// `certificates` with the certificate provider over it (see certificate_provider.h), or
// `general` again when that provider cannot be loaded.
struct LibCtxPair {
  OSSL_LIB_CTX* general = nullptr;
  OSSL_LIB_CTX* certificates = nullptr;
};

// Contexts of threads that have ended, for the next new thread. Never destroyed: reachable
// until the process ends, so leak checkers do not count the contexts. (Were a pair ever freed,
// `certificates` would have to go first: its provider borrows `general`'s.)
struct SpareContexts {
  std::mutex mutex;
  std::vector<LibCtxPair> contexts;
};

SpareContexts& Spares() {
  static auto* spares = new SpareContexts();
  return *spares;
}

LibCtxPair NewThreadContexts() {
  // A system configured for FIPS (openssl.cnf: default properties "fips=yes") keeps every
  // operation on the default context, where that configuration applies.
  if (EVP_default_properties_is_fips_enabled(nullptr) == 1) return {};
  OSSL_LIB_CTX* ctx = OSSL_LIB_CTX_new();
  if (ctx == nullptr) return {};
  OSSL_PROVIDER* provider = OSSL_PROVIDER_load(ctx, "default");
  if (provider == nullptr) {
    OSSL_LIB_CTX_free(ctx);
    DrainOpensslErrors();
    return {};
  }
  LibCtxPair pair{ctx, ctx};
  if (OSSL_LIB_CTX* certificates = OSSL_LIB_CTX_new(); certificates != nullptr) {
    if (LoadCertificateProvider(certificates, provider) != nullptr) {
      pair.certificates = certificates;
    } else {
      OSSL_LIB_CTX_free(certificates);
    }
  }
  return pair;
}

struct ThreadContext {
  LibCtxPair contexts;
  EVP_MD* sha256 = nullptr;
  bool set_up = false;

  ~ThreadContext() {
    if (OpensslShuttingDown()) return;  // see shutdown.h
    EVP_MD_free(sha256);
    if (contexts.general != nullptr) {
      std::lock_guard lock(Spares().mutex);
      Spares().contexts.push_back(contexts);
    }
  }

  void SetUp() {
    set_up = true;
    {
      std::lock_guard lock(Spares().mutex);
      if (!Spares().contexts.empty()) {
        contexts = Spares().contexts.back();
        Spares().contexts.pop_back();
      }
    }
    if (contexts.general == nullptr) contexts = NewThreadContexts();
    sha256 = EVP_MD_fetch(contexts.general, "SHA256", nullptr);
    DrainOpensslErrors();
  }
};

thread_local ThreadContext t_context;

}  // namespace

OSSL_LIB_CTX* ThreadLibCtx() {
  if (!t_context.set_up) t_context.SetUp();
  return t_context.contexts.general;
}

OSSL_LIB_CTX* ThreadCertificateLibCtx() {
  if (!t_context.set_up) t_context.SetUp();
  return t_context.contexts.certificates;
}

X509Ptr DecodeCertificateDer(std::string_view der) {
  // d2i_X509 with an object at hand fills that object. When the DER does not decode it frees
  // the object and nulls the pointer; when the extensions do not (3.0 caches them in d2i_X509
  // then), it returns null and leaves the object to the caller.
  X509* fresh = X509_new_ex(ThreadCertificateLibCtx(), nullptr);
  if (fresh == nullptr) return nullptr;
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  if (d2i_X509(&fresh, &p, static_cast<long>(der.size())) == nullptr) {
    X509_free(fresh);
    return nullptr;
  }
  X509Ptr cert(fresh);
  if (p != begin + der.size()) cert.reset();  // trailing bytes: not one certificate
  return cert;
}

const EVP_MD* ThreadSha256() {
  if (!t_context.set_up) t_context.SetUp();
  return t_context.sha256 != nullptr ? t_context.sha256 : EVP_sha256();
}

bool LoadOpensslProviders() {
  static std::once_flag once;
  static OSSL_PROVIDER* default_provider = nullptr;
  static OSSL_PROVIDER* legacy_provider = nullptr;
  std::call_once(once, [] {
    // Loading any provider explicitly turns off the implicit "default", so load it too.
    default_provider = OSSL_PROVIDER_load(nullptr, "default");
    legacy_provider = OSSL_PROVIDER_load(nullptr, "legacy");
    DrainOpensslErrors();  // a missing legacy module is an answer, not an error to leak
    // Give the references back before OpenSSL's own exit handler (registered earlier, so it
    // runs later) tears the library down; otherwise the providers are never freed.
    std::atexit([] {
      g_shutting_down = true;
      if (legacy_provider != nullptr) OSSL_PROVIDER_unload(legacy_provider);
      if (default_provider != nullptr) OSSL_PROVIDER_unload(default_provider);
    });
  });
  return legacy_provider != nullptr;
}

}  // namespace certinbox::pipeline
