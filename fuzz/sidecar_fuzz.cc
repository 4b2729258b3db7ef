// Sidecar TOML: the bytes of FILE.toml beside a dropped FILE, read as the daemon reads a drop
// (daemon/drop_reader.h ReadDrop: the file, then its sidecar, then the inbox's password_file).
// The sidecar's parse is not a public function of its own, so the bytes go through files in a
// temporary inbox; a relative password_file there may name "passwords" or ".passwords", which
// exist.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/drop_reader.h"
#include "fuzz/fuzz_temp_dir.h"

namespace {

using namespace certinbox;

struct Inbox {
  fuzz::TempDir dir{"sidecar"};
  daemon::InboxConfig config;
  std::filesystem::path file = dir.path() / "drop.pem";
  std::filesystem::path sidecar = dir.path() / "drop.pem.toml";

  Inbox() {
    config.name = "fuzz";
    config.path = dir.path();
    config.labels = {"inbox-label"};
    fuzz::WriteFile(file, "not a certificate");
    fuzz::WriteFile(dir.path() / "passwords", "one\r\ntwo\n\nthree");
    fuzz::WriteFile(dir.path() / ".passwords", "hidden\n");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  static Inbox inbox;  // removed at exit
  (void)quiet;
  fuzz::WriteFile(inbox.sidecar, std::string_view(reinterpret_cast<const char*>(data), size));
  (void)daemon::ReadDrop(inbox.file, inbox.sidecar, inbox.config);
  return 0;
}
