#include "watchers/fs_util.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE (glibc, _GNU_SOURCE)
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>
#include <utility>
#include <vector>

#include "base/error_codes.h"
#include "base/fd.h"
#include "base/hex.h"
#include "base/time.h"

namespace certinbox::watchers {
namespace fs = std::filesystem;

namespace {

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Length of the valid UTF-8 sequence at the start of `s`, or 0 if it is not valid.
size_t Utf8SequenceLength(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char lead = byte(0);
  size_t len;
  uint32_t min;
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) {
    len = 2, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  uint32_t code = lead & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

base::Result<base::Fd> OpenSubdir(int dir_fd, const std::string& name, mode_t mode) {
  if (mkdirat(dir_fd, name.c_str(), mode) != 0 && errno != EEXIST) {
    return Unwritable(errno, "cannot create the folder " + name + "/");
  }
  base::Fd fd(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOTDIR || err == ELOOP) {
      return Unwritable(name +
                        "/ in the inbox is not a folder (a symbolic link or a file took its "
                        "place): nothing is moved into it");
    }
    return Unwritable(err, "cannot open the folder " + name + "/");
  }
  return fd;
}

std::expected<base::Fd, int> OpenInDir(int dir_fd, const std::string& name) {
  base::Fd fd(
      openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return std::unexpected(errno);
  return fd;
}

int RenameNoReplaceAt(int from_dir, const std::string& from, int to_dir, const std::string& to) {
  if (renameat2(from_dir, from.c_str(), to_dir, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  int err = errno;
  if (err != EINVAL && err != ENOSYS && err != ENOTSUP) return err;
  struct stat st;
  if (fstatat(to_dir, to.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return EEXIST;
  if (errno != ENOENT) return errno;
  return renameat(from_dir, from.c_str(), to_dir, to.c_str()) == 0 ? 0 : errno;
}

base::Result<std::string> MoveToUniqueNameAt(int from_dir, const std::string& from, int to_dir,
                                             std::string_view base, std::string_view shown,
                                             size_t room) {
  for (int n = 0; n < kMaxSuffix; ++n) {
    std::string name = OutcomeName(base, n, room);
    int err = RenameNoReplaceAt(from_dir, from, to_dir, name);
    if (err == 0) return name;
    if (err != EEXIST) return Unwritable(err, "cannot move " + std::string(shown));
  }
  return Unwritable("cannot move " + std::string(shown) + ": too many files of that name");
}

base::Result<std::string> WriteTempFileAt(int dir_fd, std::string_view content, mode_t mode) {
  static std::random_device random;
  for (int attempt = 0; attempt < 100; ++attempt) {
    char name[48];
    snprintf(name, sizeof name, ".certinbox.%08x%08x.tmp", random(), random());
    base::Fd fd(openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) {
      if (errno == EEXIST) continue;
      return Unwritable(errno, "cannot create a file");
    }
    int err = 0;
    if (fchmod(fd.get(), mode) != 0 || !WriteAll(fd.get(), content) || fsync(fd.get()) != 0)
      err = errno;
    if (err == 0 && close(fd.Release()) != 0) err = errno;
    if (err != 0) {
      unlinkat(dir_fd, name, 0);
      return Unwritable(err, std::string("cannot write ") + name);
    }
    return std::string(name);
  }
  return Unwritable("cannot find a free temporary name");
}

std::unexpected<base::Error> Unwritable(std::string what) {
  return base::Fail(base::code::kUnwritable, std::move(what));
}

std::unexpected<base::Error> Unwritable(int err, const std::string& what) {
  return Unwritable(what + ": " + ErrnoText(err));
}

std::string ErrnoText(int err) {
  char buffer[256];
  // GNU strerror_r returns the message, possibly not in `buffer`.
  return strerror_r(err, buffer, sizeof buffer);
}

base::Result<void> MakeDir(const fs::path& dir, mode_t mode) {
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Unwritable(dir.string() + " is not a folder");
    return {};
  }
  if (errno != ENOENT) return Unwritable(errno, "cannot look at " + dir.string());
  if (mkdir(dir.c_str(), mode) == 0 || errno == EEXIST) return {};
  if (errno == ENOENT) {
    return Unwritable("its parent folder " + dir.parent_path().string() +
                      " does not exist: create it (certinboxd makes the inbox folder, not its "
                      "parents)");
  }
  return Unwritable(errno, "cannot create the folder " + dir.string());
}

std::string Suffixed(std::string_view base, int n) {
  std::string name(base);
  if (n > 0) name += "." + std::to_string(n);
  return name;
}

std::string ShortenedName(std::string_view name) {
  if (name.size() <= kMaxShortenedBytes) return std::string(name);
  constexpr size_t kMaxExtensionBytes = 16;
  constexpr size_t kHashBytes = 1 + 8;  // "~" and 8 hex digits
  std::string_view extension;
  if (size_t dot = name.rfind('.');
      dot != std::string_view::npos && dot > 0 && name.size() - dot <= kMaxExtensionBytes) {
    extension = name.substr(dot);
  }
  size_t keep = kMaxShortenedBytes - kHashBytes - extension.size();
  // Back to the start of the character the cut would split (a UTF-8 continuation byte is
  // 10xxxxxx), so the prefix stays readable text.
  while (keep > 0 && (static_cast<unsigned char>(name[keep]) & 0xC0) == 0x80) --keep;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  std::string hash = "00000000";
  if (EVP_Digest(name.data(), name.size(), digest, &digest_size, EVP_sha256(), nullptr) == 1) {
    hash = base::HexLower(std::string_view(reinterpret_cast<const char*>(digest), 4));
  }
  return std::string(name.substr(0, keep)) + "~" + hash + std::string(extension);
}

std::string OutcomeName(std::string_view base, int n, size_t room) {
  std::string name = Suffixed(base, n);
  if (name.size() + room <= kMaxNameBytes) return name;
  return Suffixed(ShortenedName(base), n);
}

bool OnNetworkFilesystem(const std::filesystem::path& dir) {
  struct statfs info {};
  if (::statfs(dir.c_str(), &info) != 0) return false;
  switch (static_cast<uint32_t>(info.f_type)) {
    case 0x6969:      // NFS
    case 0xFF534D42:  // CIFS
    case 0xFE534D42:  // SMB2
    case 0x517B:      // SMB
    case 0x65735546:  // FUSE
    case 0x01021997:  // 9p
    case 0x5346414F:  // AFS
      return true;
    default:
      return false;
  }
}

int SyncDir(const fs::path& dir) {
  base::Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return errno;
  return fsync(fd.get()) == 0 ? 0 : errno;
}

std::string JsonString(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  while (!text.empty()) {
    unsigned char c = static_cast<unsigned char>(text.front());
    size_t len = Utf8SequenceLength(text);
    if (len == 0) {
      out += "\\ufffd";
      text.remove_prefix(1);
      continue;
    }
    if (len > 1) {
      out.append(text.substr(0, len));
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\b') {
      out += "\\b";
    } else if (c == '\f') {
      out += "\\f";
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
    text.remove_prefix(len);
  }
  out += '"';
  return out;
}

}  // namespace certinbox::watchers
