// The config: the bytes of certinbox.toml, loaded as the daemon loads it at start and on reload
// (daemon/config.h LoadConfig), then compared with the defaults as a reload would
// (DiffConfig, ApplicableConfig). The config is the operator's, not a stranger's, but a reload
// reads it while the daemon runs, so a bad one must be a reason, never a crash.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/config.h"
#include "fuzz/fuzz_temp_dir.h"

namespace {

using namespace certinbox;

struct Folder {
  fuzz::TempDir dir{"config"};
  std::filesystem::path file = dir.path() / "certinbox.toml";
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  static Folder folder;  // removed at exit
  (void)quiet;
  fuzz::WriteFile(folder.file, std::string_view(reinterpret_cast<const char*>(data), size));
  auto config = daemon::LoadConfig(folder.file);
  if (!config) return 0;
  const daemon::Config defaults;
  (void)daemon::DiffConfig(defaults, *config);
  (void)daemon::ApplicableConfig(defaults, *config);
  (void)daemon::DiffConfig(*config, defaults);
  return 0;
}
