#include "daemon/plugin_launch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

extern char** environ;

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;

bool Executable(const fs::path& file) {
  std::error_code ec;
  return fs::is_regular_file(file, ec) && ::access(file.c_str(), X_OK) == 0;
}

}  // namespace

std::optional<fs::path> ResolvePluginCommand(const std::string& command, std::string& why) {
  if (command.find('/') != std::string::npos) {
    if (Executable(command)) return fs::path(command);
    why = "cannot start " + command + ": " +
          (::access(command.c_str(), F_OK) == 0 ? "not an executable file" : "no such file");
    return std::nullopt;
  }
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec).parent_path();
  if (!ec && Executable(self / command)) return self / command;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    if (dir.empty()) continue;
    if (Executable(fs::path(dir) / command)) return fs::path(dir) / command;
  }
  why = "cannot start '" + command + "': not found beside certinboxd (" + self.string() +
        ") nor in PATH";
  return std::nullopt;
}

std::string PreparePluginFolder(const fs::path& state_dir, const fs::path& dir,
                                const PluginConfig& config, const std::error_code& made) {
  if (made) return made.message();
  if (::chmod(dir.parent_path().c_str(), 0711) != 0) return std::strerror(errno);
  if (config.uid && *config.uid != ::geteuid()) {
    struct stat st {};
    if (::stat(state_dir.c_str(), &st) != 0) return std::strerror(errno);
    if ((st.st_mode & S_IXOTH) == 0 &&
        ::chmod(state_dir.c_str(), (st.st_mode & 07777) | S_IXOTH) != 0) {
      return std::strerror(errno);
    }
  }
  // Through a descriptor, never following a link: plugins/ is root's, but a folder a plugin
  // owned may have been anything when it ran as another user.
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  const uid_t uid = config.uid.value_or(::geteuid());
  const gid_t gid = config.uid ? config.gid.value_or(uid) : ::getegid();
  int rc = ::fchown(fd, uid, gid);
  if (rc == 0) rc = ::fchmod(fd, 0700);
  std::string why = rc == 0 ? "" : std::strerror(errno);
  ::close(fd);
  return why;
}

std::vector<std::string> PluginEnvironment(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> env_map;
  for (char** var = environ; var && *var; ++var) {
    std::string_view text(*var);
    size_t eq = text.find('=');
    if (eq != std::string_view::npos)
      env_map[std::string(text.substr(0, eq))] = text.substr(eq + 1);
  }
  // systemd's socket is the daemon's: a plugin's READY=1 or STOPPING=1 there would speak for it.
  env_map.erase("NOTIFY_SOCKET");
  for (const auto& [var, value] : overrides) env_map[var] = value;
  std::vector<std::string> env;
  for (const auto& [var, value] : env_map) env.push_back(var + "=" + value);
  return env;
}

}  // namespace certinbox::daemon
