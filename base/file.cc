#include "base/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "base/error_codes.h"
#include "base/fd.h"
#include "base/text.h"

namespace certinbox::base {
namespace {

namespace fs = std::filesystem;

// A path as it may appear in a message: escaped (a file name may be a stranger's).
std::string Shown(const fs::path& path) { return Escape(path.native()); }

std::string Cause(int error) { return std::strerror(error); }

// Reads all of `fd` into a string, refusing more than `max_bytes`. `expected` is the size fstat
// gave: one byte more is asked for, so a file that grew is noticed rather than cut.
Result<std::string> ReadAll(int fd, const fs::path& name, uint64_t expected,
                            const ReadOptions& options) {
  std::string bytes(static_cast<size_t>(expected) + 1, '\0');
  size_t done = 0;
  while (true) {
    ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(code::kUnreadable, "cannot read " + Shown(name) + ": " + Cause(errno));
    if (n == 0) {
      bytes.resize(done);
      return bytes;
    }
    done += static_cast<size_t>(n);
    if (done > options.max_bytes) {
      return Fail(code::kFileTooLarge,
                  Shown(name) + " grew past " + std::string(options.limit_name) + " = " +
                      std::to_string(options.max_bytes) + " while it was read");
    }
    if (done == bytes.size()) bytes.resize(bytes.size() * 2 + 1);
  }
}

}  // namespace

Result<std::string> ReadRegularFileAt(int dir_fd, const fs::path& name,
                                      const ReadOptions& options) {
  Fd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) {
    int err = errno;
    if (err == ELOOP) {
      return Fail(code::kSymlink,
                  Shown(name) + " is a symbolic link; certinbox does not follow links");
    }
    if (err == ENXIO) return Fail(code::kNotRegularFile, Shown(name) + " is not a regular file");
    return Fail(code::kUnreadable,
                "cannot open " + Shown(name) + ": " + Cause(err) + "; check its permissions");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Fail(code::kUnreadable, "cannot stat " + Shown(name) + ": " + Cause(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Fail(code::kNotRegularFile,
                Shown(name) + " is not a regular file (a FIFO, device or socket)");
  }
  if (options.refuse_hard_links && st.st_nlink > 1) {
    return Fail(code::kHardLink, Shown(name) + " has " + std::to_string(st.st_nlink) +
                                     " hard links; certinbox takes only a file with one name");
  }
  if (static_cast<uint64_t>(st.st_size) > options.max_bytes) {
    return Fail(code::kFileTooLarge, Shown(name) + " has " + std::to_string(st.st_size) +
                                         " bytes, more than " + std::string(options.limit_name) +
                                         " = " + std::to_string(options.max_bytes));
  }
  if (options.seen != nullptr) *options.seen = st;
  return ReadAll(fd.get(), name, static_cast<uint64_t>(st.st_size), options);
}

Result<std::string> ReadRegularFile(const fs::path& path, uint64_t max_bytes) {
  return ReadRegularFileAt(AT_FDCWD, path, ReadOptions{.max_bytes = max_bytes});
}

Result<void> WriteFileAtomically(const fs::path& path, std::string_view bytes,
                                 const WriteOptions& options) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : ".";
  static thread_local std::mt19937_64 random{std::random_device{}()};
  fs::path temp;
  Fd fd;
  for (int attempt = 0; attempt < 16 && !fd.valid(); ++attempt) {
    temp = dir / ("." + path.filename().string() + "." + std::to_string(random()) + ".tmp");
    // O_EXCL: a name planted by someone else (a symlink, say) is never followed or reused.
    fd = Fd(
        ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, options.mode));
    if (!fd.valid() && errno != EEXIST) {
      return Fail(code::kUnwritable,
                  "cannot create a file in " + dir.string() + ": " + Cause(errno));
    }
  }
  if (!fd.valid()) {
    return Fail(code::kUnwritable, "cannot create a temporary file in " + dir.string());
  }
  auto fail = [&](const std::string& what, int error) {
    ::unlink(temp.c_str());
    return Fail(code::kUnwritable, "cannot " + what + " " + path.string() + ": " + Cause(error));
  };
  // The umask may have narrowed `mode` at creation, never widened it.
  if (options.exact_mode && ::fchmod(fd.get(), options.mode) != 0) {
    return fail("set the mode of", errno);
  }
  for (size_t at = 0; at < bytes.size();) {
    ssize_t n = ::write(fd.get(), bytes.data() + at, bytes.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("write", n < 0 ? errno : EIO);
    at += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("write", errno);
  if (::close(fd.Release()) != 0) return fail("write", errno);
  // link() fails when the name exists, so an existing file is never replaced by accident.
  int rc =
      options.replace ? ::rename(temp.c_str(), path.c_str()) : ::link(temp.c_str(), path.c_str());
  int error = errno;
  if (!options.replace || rc != 0) ::unlink(temp.c_str());
  if (rc != 0) {
    if (error == EEXIST && !options.replace) {
      return Fail(code::kFileExists, path.string() + " exists");
    }
    return Fail(code::kUnwritable, "cannot create " + path.string() + ": " + Cause(error));
  }
  if (options.sync_folder) {
    Fd folder(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!folder.valid()) {
      return Fail(code::kUnwritable,
                  "cannot open the folder " + dir.string() + ": " + Cause(errno));
    }
    if (::fsync(folder.get()) != 0) {
      return Fail(code::kUnwritable,
                  "cannot sync the folder " + dir.string() + ": " + Cause(errno));
    }
  }
  return {};
}

}  // namespace certinbox::base
