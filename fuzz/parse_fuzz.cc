// The drop parser: the bytes of one dropped file, as the daemon hands them to the pipeline on
// its thread pool (daemon/import_service.cc): ParseFile with the file's candidate passwords
// (format detection, PEM, DER, PKCS#7, PKCS#12, encrypted keys), then Validate (chains, dates,
// key pairing) when it found certificates or keys.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "fuzz/fuzz_passwords.h"
#include "pipeline/ossl.h"
#include "pipeline/parse.h"
#include "pipeline/validate.h"

namespace {

using namespace certinbox;

// A fixed "now" (2026-11-23) so that a run does not depend on the day.
constexpr pipeline::UnixTime kNow = 1795424400;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool providers = pipeline::LoadOpensslProviders();
  static const std::shared_ptr<const pipeline::TrustContext> trust =
      pipeline::TrustContext::Create({}, /*use_system_store=*/false);
  (void)providers;
  pipeline::ParseOptions options;
  for (std::string_view password : fuzz::kPasswords) options.passwords.emplace_back(password);
  auto parsed =
      pipeline::ParseFile(std::string_view(reinterpret_cast<const char*>(data), size), options);
  if (!parsed || (parsed->certificates.empty() && parsed->keys.empty())) return 0;
  for (bool accept_expired : {false, true}) {
    (void)pipeline::Validate(*parsed, *trust, {kNow, accept_expired});
  }
  return 0;
}
