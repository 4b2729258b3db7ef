// The drop parser: the bytes of one dropped file, as the daemon hands them to the pipeline on
// its thread pool (daemon/import_job.cc): ParseFile with the file's candidate passwords
// (format detection, PEM, DER, PKCS#7, PKCS#12, encrypted keys), then Validate (chains, dates,
// key pairing) when it found certificates or keys. CERTINBOX_FUZZ_PRINT=1 prints what each input
// gave (to read what a replayed input did).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "base/time.h"
#include "fuzz/fuzz_passwords.h"
#include "pipeline/ossl.h"
#include "pipeline/parse.h"
#include "pipeline/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace certinbox;
  static const bool providers = pipeline::LoadOpensslProviders();
  // "Now" is taken once: the seed corpus's certificates are made valid from the real clock.
  static const base::UnixTime now = base::UnixNow();
  static const std::shared_ptr<const pipeline::TrustContext> trust =
      pipeline::TrustContext::Create({}, /*use_system_store=*/false);
  (void)providers;
  pipeline::ParseOptions options;
  for (std::string_view password : fuzz::kPasswords) options.passwords.emplace_back(password);
  auto parsed =
      pipeline::ParseFile(std::string_view(reinterpret_cast<const char*>(data), size), options);
  static const bool print = std::getenv("CERTINBOX_FUZZ_PRINT") != nullptr;
  if (print && parsed) {
    std::printf("%s: %zu certificates, %zu keys, %zu requests\n", parsed->format.c_str(),
                parsed->certificates.size(), parsed->keys.size(), parsed->requests.size());
  } else if (print) {
    std::printf("%s\n", parsed.error().code.c_str());
  }
  if (!parsed || (parsed->certificates.empty() && parsed->keys.empty())) return 0;
  for (bool accept_expired : {false, true}) {
    auto validated = pipeline::Validate(*parsed, *trust, {now, accept_expired});
    if (print && !validated) std::printf("  %s\n", validated.error().code.c_str());
  }
  return 0;
}
