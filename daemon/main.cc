// certinboxd: the certinbox daemon.
#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "base/time.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/inbox_paths.h"
#include "daemon/ops/status.h"

namespace {

// Descriptors the daemon inherited (from a shell, a service manager) are not for the plugins it
// starts, which may run as other users: every one past stderr is closed on exec. close_range
// (Linux 5.11) does it in one call; older kernels go through /proc/self/fd.
void CloseInheritedOnExec() {
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return;
  const int own = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    if (fd > 2 && fd != own) {
      const int flags = ::fcntl(fd, F_GETFD);
      if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
  }
  ::closedir(dir);
}

}  // namespace

int main(int argc, char** argv) {
  CloseInheritedOnExec();
  CLI::App app{
      "certinboxd: imports certificate files dropped into inbox folders, keeps them in SQLite\n"
      "(private keys encrypted), and announces every change on a ZeroMQ bus."};
  std::string config_file = "/etc/certinbox/certinbox.toml";
  bool check_only = false;
  std::string log_level;
  app.add_option("-c,--config", config_file, "configuration file (TOML)")->capture_default_str();
  app.add_flag("--check", check_only, "validate the configuration, print the result and exit");
  app.add_option("--log-level", log_level, "override [daemon] log_level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.set_version_flag("--version", std::string("certinboxd ") + certinbox::daemon::ops::kVersion);
  app.footer(
      "Exit codes: 0 stopped cleanly or config valid; 1 could not start; 2 usage or invalid "
      "config.\nSignals: SIGTERM/SIGINT stop after the imports in flight are stored; parses in\n"
      "flight are abandoned and their files stay in the inbox.\n"
      "See etc/certinbox.toml for every configuration key.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version print and exit 0; every usage error exits 2, as documented.
    return app.exit(e) == 0 ? 0 : 2;
  }
  // Past a file size limit (RLIMIT_FSIZE) a write fails with EFBIG, a storage fault the daemon
  // reports and retries, instead of SIGXFSZ ending it. A handler, not SIG_IGN, so the programs
  // it starts get the default again.
  struct sigaction file_too_big {};
  file_too_big.sa_handler = [](int) {};
  sigaction(SIGXFSZ, &file_too_big, nullptr);

  auto logger = spdlog::stderr_color_mt("certinboxd");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");

  auto config = certinbox::daemon::LoadConfig(config_file);
  if (!config) {
    std::cerr << "certinboxd: invalid configuration:\n" << config.error().message << "\n";
    return 2;
  }
  if (check_only) {
    // An inbox that cannot be watched does not stop the daemon (status shows it), so it is a
    // warning here, not an error.
    std::vector<std::string> warnings;
    for (const auto& inbox : config->inboxes) {
      std::string problem = certinbox::daemon::InboxPathProblem(inbox.path);
      if (!problem.empty()) warnings.push_back("inbox " + inbox.name + ": " + problem);
    }
    std::cout << config->file.string() << ": ok, " << config->inboxes.size() << " inbox(es)";
    if (!warnings.empty()) std::cout << ", " << warnings.size() << " warning(s)";
    std::cout << "\n";
    for (const auto& warning : warnings) std::cout << "warning: " << warning << "\n";
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(log_level.empty() ? config->log_level : log_level));

  // libuv's pool parses dropped files and runs control ops (csr create) and WAL checkpoints;
  // the import service keeps two of its threads free of slow parses. Sized before its first use:
  // one more than the cores, at least 5.
  if (std::getenv("UV_THREADPOOL_SIZE") == nullptr) {
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    std::string size = std::to_string(std::max(4u, cores) + 1);
    ::setenv("UV_THREADPOOL_SIZE", size.c_str(), 0);
  }

  certinbox::daemon::Daemon daemon(std::move(*config), certinbox::base::SystemClock());
  if (auto started = daemon.Start(); !started) {
    spdlog::critical("cannot start: {} ({})", started.error().message, started.error().code);
    return 1;
  }
  int code = daemon.Run();
  if (daemon.abandoned_parses() > 0) {
    // A pool thread is still inside OpenSSL: end here, without destructors or exit handlers.
    // Everything stored is committed; the abandoned files are still in their inboxes.
    spdlog::default_logger()->flush();
    std::_Exit(code);
  }
  return code;
}
