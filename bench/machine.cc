#include "bench/machine.h"

#include <openssl/crypto.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <zmq.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "bench/daemon_phases.h"

namespace certinbox::bench {
namespace {

namespace fs = std::filesystem;

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("model name")) {
      auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

std::string FilesystemOf(const fs::path& dir) {
  struct statfs info {};
  if (::statfs(dir.c_str(), &info) != 0) return "unknown";
  switch (static_cast<unsigned long>(info.f_type)) {
    case 0x01021994:
      return "tmpfs";
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x794c7630:
      return "overlayfs";
    default: {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "fs magic 0x%lx",
                    static_cast<unsigned long>(info.f_type));
      return buffer;
    }
  }
}

}  // namespace

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

int UsableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::thread::hardware_concurrency());
}

std::string MachineLine(const fs::path& workdir) {
  utsname uts{};
  ::uname(&uts);
  int major = 0, minor = 0, patch = 0;
  zmq_version(&major, &minor, &patch);
  const char* pool = std::getenv("UV_THREADPOOL_SIZE");
  char buffer[1024];
  std::snprintf(buffer, sizeof buffer,
                "  machine   %d CPUs usable (%s), Linux %s, workdir on %s, load average %s\n"
                "  libraries %s, SQLite %s, ZeroMQ %d.%d.%d, UV_THREADPOOL_SIZE=%s\n",
                UsableCpus(), CpuModel().c_str(), uts.release, FilesystemOf(workdir).c_str(),
                LoadAverage().c_str(), OpenSSL_version(OPENSSL_VERSION), sqlite3_libversion(),
                major, minor, patch, pool ? pool : "unset (certinboxd: cores + 1, at least 5)");
  return buffer;
}

fs::path MakeWorkdir(const std::string& requested, const std::string& prefix) {
  if (requested.empty()) {
    // Short: ipc:// socket paths are limited to 107 bytes.
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw Fatal{std::string("mkdtemp: ") + std::strerror(errno)};
    return pattern;
  }
  fs::path dir = fs::absolute(requested);
  if (fs::exists(dir) && !fs::is_empty(dir)) {
    throw Fatal{dir.string() +
                " is not empty: the benchmark removes its work folder, so give "
                "a new or empty one"};
  }
  fs::create_directories(dir);
  return dir;
}

int RunInWorkdir(const std::string& requested, const std::string& prefix, bool keep,
                 const std::function<int(const fs::path&)>& body) {
  fs::path workdir;
  try {
    workdir = MakeWorkdir(requested, prefix);
  } catch (const Fatal& fatal) {
    std::fprintf(stderr, "ERROR: %s\n", fatal.message.c_str());
    return 1;
  } catch (const fs::filesystem_error& e) {
    std::fprintf(stderr, "ERROR: %s\n", e.what());
    return 1;
  }
  int exit_code = 0;
  try {
    exit_code = body(workdir);
  } catch (const Fatal& fatal) {
    std::fflush(stdout);
    std::fprintf(stderr, "\nERROR: %s\n", fatal.message.c_str());
    exit_code = 1;
    keep = true;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "\nERROR: %s\n", e.what());
    exit_code = 1;
    keep = true;
  }
  std::fflush(stdout);
  if (keep) {
    std::fprintf(stderr, "kept %s\n", workdir.c_str());
  } else {
    std::error_code ec;
    fs::remove_all(workdir, ec);
  }
  return exit_code;
}

std::string Mib(std::optional<uint64_t> kib) {
  if (!kib) return "unknown";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f MiB", static_cast<double>(*kib) / 1024.0);
  return buffer;
}

}  // namespace certinbox::bench
