#include "pipeline/ossl.h"

#include <openssl/crypto.h>
#include <openssl/provider.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>

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

// Contexts of threads that have ended, for the next new thread. Never destroyed: reachable
// until the process ends, so leak checkers do not count the contexts.
struct SpareContexts {
  std::mutex mutex;
  std::vector<OSSL_LIB_CTX*> contexts;
};

SpareContexts& Spares() {
  static auto* spares = new SpareContexts();
  return *spares;
}

OSSL_LIB_CTX* NewThreadContext() {
  // A system configured for FIPS (openssl.cnf: default properties "fips=yes") keeps every
  // operation on the default context, where that configuration applies.
  if (EVP_default_properties_is_fips_enabled(nullptr) == 1) return nullptr;
  OSSL_LIB_CTX* ctx = OSSL_LIB_CTX_new();
  if (ctx == nullptr) return nullptr;
  if (OSSL_PROVIDER_load(ctx, "default") == nullptr) {
    OSSL_LIB_CTX_free(ctx);
    DrainOpensslErrors();
    return nullptr;
  }
  return ctx;
}

struct ThreadContext {
  OSSL_LIB_CTX* ctx = nullptr;
  EVP_MD* sha256 = nullptr;
  bool set_up = false;

  ~ThreadContext() {
    if (OpensslShuttingDown()) return;  // see shutdown.h
    EVP_MD_free(sha256);
    if (ctx != nullptr) {
      std::lock_guard lock(Spares().mutex);
      Spares().contexts.push_back(ctx);
    }
  }

  void SetUp() {
    set_up = true;
    {
      std::lock_guard lock(Spares().mutex);
      if (!Spares().contexts.empty()) {
        ctx = Spares().contexts.back();
        Spares().contexts.pop_back();
      }
    }
    if (ctx == nullptr) ctx = NewThreadContext();
    sha256 = EVP_MD_fetch(ctx, "SHA256", nullptr);
    DrainOpensslErrors();
  }
};

thread_local ThreadContext t_context;

}  // namespace

OSSL_LIB_CTX* ThreadLibCtx() {
  if (!t_context.set_up) t_context.SetUp();
  return t_context.ctx;
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
