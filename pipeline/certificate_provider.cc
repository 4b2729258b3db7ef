#include "pipeline/certificate_provider.h"

#include <openssl/core_dispatch.h>
#include <openssl/provider.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "pipeline/error.h"

namespace certinbox::pipeline {
namespace {

// The provider whose algorithm tables are served. The default provider's tables are static
// and the same from every instance, so the first one wrapped serves every context. It lives
// as long as the process: the contexts it is loaded in are never freed (see ThreadLibCtx).
std::atomic<OSSL_PROVIDER*> g_source{nullptr};

// Set around OSSL_PROVIDER_load, which runs Init on the calling thread.
thread_local OSSL_PROVIDER* t_wrapping = nullptr;

bool IsSpkiDecoder(const OSSL_ALGORITHM& algorithm) {
  const char* properties = algorithm.property_definition;
  return properties != nullptr && std::strstr(properties, "structure=SubjectPublicKeyInfo");
}

// The source's decoders for DER SubjectPublicKeyInfo, ended by an all-null entry.
const OSSL_ALGORITHM* SpkiDecoders() {
  static std::once_flag once;
  static std::vector<OSSL_ALGORITHM>* decoders = nullptr;  // never freed: OpenSSL may use it
  std::call_once(once, [] {
    decoders = new std::vector<OSSL_ALGORITHM>();
    int no_cache = 0;
    const OSSL_ALGORITHM* all =
        OSSL_PROVIDER_query_operation(g_source.load(), OSSL_OP_DECODER, &no_cache);
    for (; all != nullptr && all->algorithm_names != nullptr; ++all) {
      if (IsSpkiDecoder(*all)) decoders->push_back(*all);
    }
    decoders->push_back(OSSL_ALGORITHM{nullptr, nullptr, nullptr, nullptr});
  });
  return decoders->data();
}

const OSSL_ALGORITHM* QueryOperation(void* /*provctx*/, int operation_id, int* no_cache) {
  if (operation_id == OSSL_OP_DECODER) {
    *no_cache = 0;
    return SpkiDecoders();
  }
  return OSSL_PROVIDER_query_operation(g_source.load(), operation_id, no_cache);
}

// Function pointers are stored as void (*)(void) in OSSL_DISPATCH, as OpenSSL's own
// providers do; OpenSSL casts them back by function id.
const OSSL_DISPATCH kDispatch[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, reinterpret_cast<void (*)(void)>(&QueryOperation)},
    {0, nullptr},
};

int Init(const OSSL_CORE_HANDLE* /*handle*/, const OSSL_DISPATCH* /*in*/, const OSSL_DISPATCH** out,
         void** provctx) {
  if (t_wrapping == nullptr) return 0;
  OSSL_PROVIDER* expected = nullptr;
  g_source.compare_exchange_strong(expected, t_wrapping);
  // The algorithms run with the wrapped provider's context: they find their library context
  // (for the digests and curves they fetch) and their core functions through it.
  *provctx = OSSL_PROVIDER_get0_provider_ctx(t_wrapping);
  *out = kDispatch;
  return 1;
}

}  // namespace

OSSL_PROVIDER* LoadCertificateProvider(OSSL_LIB_CTX* target, OSSL_PROVIDER* wrapped) {
  constexpr const char* kName = "certinbox-certificates";
  // Only "default": its tables are the ones served, and they expect its provider context.
  if (target == nullptr || wrapped == nullptr ||
      std::strcmp(OSSL_PROVIDER_get0_name(wrapped), "default") != 0) {
    return nullptr;
  }
  if (OSSL_PROVIDER_add_builtin(target, kName, Init) != 1) {
    DrainOpensslErrors();
    return nullptr;
  }
  t_wrapping = wrapped;
  OSSL_PROVIDER* loaded = OSSL_PROVIDER_load(target, kName);
  t_wrapping = nullptr;
  if (loaded == nullptr) DrainOpensslErrors();
  return loaded;
}

}  // namespace certinbox::pipeline
