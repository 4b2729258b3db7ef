#include "plugins/deploy/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "base/error_codes.h"

namespace certinbox::deploy {
namespace {

std::string Cause(int error) { return std::strerror(error); }

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out;
  for (int i = 0; i < 10; ++i) out += kDigits[rng() % 36];
  return out;
}

bool WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

base::Result<void> EnsureFolder(const std::string& folder) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec)
    return base::Fail(base::code::kDeployFailed,
                      "cannot create the folder " + folder + ": " + ec.message());
  if (!std::filesystem::is_directory(folder, ec)) {
    return base::Fail(base::code::kDeployFailed, folder + " is not a folder");
  }
  return {};
}

base::Result<void> WriteFileAtomically(const std::string& folder, const std::string& name,
                                       const std::string& bytes, mode_t mode) {
  const std::string target = folder + "/" + name;
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 10 && fd < 0; ++attempt) {
    temp = folder + "/." + name + ".tmp-" + RandomSuffix();
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0)
    return base::Fail(base::code::kDeployFailed,
                      "cannot create a temporary file in " + folder + ": " + Cause(errno));
  auto fail = [&](const std::string& what) {
    int error = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return base::Fail(base::code::kDeployFailed,
                      "cannot " + what + " " + target + ": " + Cause(error));
  };
  // The umask may have narrowed `mode` at creation; set it exactly (never wider than asked).
  if (::fchmod(fd, mode) != 0) return fail("set the mode of");
  if (!WriteAll(fd, bytes)) return fail("write");
  if (::fsync(fd) != 0) return fail("sync");
  if (::close(fd) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    return base::Fail(base::code::kDeployFailed, "cannot write " + target + ": " + Cause(error));
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    return base::Fail(base::code::kDeployFailed,
                      "cannot rename a temporary file to " + target + ": " + Cause(error));
  }
  int dir_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return base::Fail(base::code::kDeployFailed,
                      "cannot open the folder " + folder + ": " + Cause(errno));
  int synced = ::fsync(dir_fd);
  int error = errno;
  ::close(dir_fd);
  if (synced != 0)
    return base::Fail(base::code::kDeployFailed,
                      "cannot sync the folder " + folder + ": " + Cause(error));
  return {};
}

base::Result<void> RemoveFile(const std::string& folder, const std::string& name) {
  const std::string target = folder + "/" + name;
  if (::unlink(target.c_str()) != 0 && errno != ENOENT) {
    return base::Fail(base::code::kDeployFailed, "cannot remove " + target + ": " + Cause(errno));
  }
  return {};
}

}  // namespace certinbox::deploy
