// failed/ as the operator sees it (`certinbox failed`) and a file sent back from it into the
// inbox (`certinbox retry`). Everything relative to the inbox's descriptors, without following
// a symbolic link.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/error_codes.h"
#include "watchers/inbox_watcher_impl.h"

namespace certinbox::watchers {
namespace {

constexpr std::string_view kErrorJson = ".error.json";

// A failed file's name: not its reason file, not its sidecar, not hidden.
bool IsFailedFile(std::string_view name) {
  return !name.empty() && name.front() != '.' && !name.ends_with(kErrorJson) &&
         !name.ends_with(".toml");
}

// Up to `max` bytes of the regular file `name` in `dir_fd` ("" when it is not one).
std::string ReadSmallAt(int dir_fd, const std::string& name, size_t max) {
  auto fd = OpenInDir(dir_fd, name);
  struct stat st {};
  if (!fd || ::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  std::string out(std::min<size_t>(static_cast<size_t>(st.st_size), max), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd->get(), out.data() + got, out.size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

bool IsRegularAt(int dir_fd, const std::string& name, struct stat* st = nullptr) {
  struct stat local {};
  struct stat* out = st != nullptr ? st : &local;
  return ::fstatat(dir_fd, name.c_str(), out, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(out->st_mode);
}

}  // namespace

base::Result<std::vector<InboxWatcher::FailedFile>> InboxWatcher::Impl::ListFailed(
    size_t max, bool& more) const {
  auto failed = OpenOutcomeDir("failed");
  if (!failed) return std::unexpected(failed.error());
  const int listing = ::dup(failed->get());
  DIR* dir = listing >= 0 ? ::fdopendir(listing) : nullptr;
  if (dir == nullptr) {
    if (listing >= 0) ::close(listing);
    return base::Fail(base::code::kUnreadable,
                      "cannot list " + failed_dir_.string() + ": " + ErrnoText(errno));
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir)) {
    if (IsFailedFile(entry->d_name)) names.emplace_back(entry->d_name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  more = names.size() > max;
  if (more) names.resize(max);
  std::vector<InboxWatcher::FailedFile> files;
  for (auto& name : names) {
    struct stat st {};
    if (!IsRegularAt(failed->get(), name, &st)) continue;
    std::string reason =
        ReadSmallAt(failed->get(), name + std::string(kErrorJson), kMaxErrorJsonBytes);
    files.push_back({.name = std::move(name),
                     .size = static_cast<uint64_t>(st.st_size),
                     .error_json = std::move(reason)});
  }
  return files;
}

base::Result<void> InboxWatcher::Impl::Retry(const std::string& name) {
  if (!IsPlainName(name) || !IsFailedFile(name)) {
    return base::Fail(base::code::kNotFound, "'" + name + "' is not a file name of failed/");
  }
  auto failed = OpenOutcomeDir("failed");
  if (!failed) return std::unexpected(failed.error());
  if (!IsRegularAt(failed->get(), name)) {
    return base::Fail(base::code::kNotFound, "no file " + name + " in " + failed_dir_.string());
  }
  const std::string sidecar = name + ".toml";
  const bool has_sidecar = IsRegularAt(failed->get(), sidecar);
  struct stat other {};
  if (!has_sidecar && ::fstatat(failed->get(), sidecar.c_str(), &other, AT_SYMLINK_NOFOLLOW) == 0) {
    return base::Fail(base::code::kNotFound,
                      sidecar +
                          " in failed/ is not a regular file: the file would lose its "
                          "sidecar; replace it with the sidecar itself, then retry");
  }
  for (const std::string& taken : {name, sidecar}) {
    struct stat st {};
    if ((taken == name || has_sidecar) &&
        ::fstatat(dir_fd_.get(), taken.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      return base::Fail(base::code::kNameTaken,
                        "the inbox already has a " + taken + ": move it away first, then retry");
    }
  }
  // The sidecar first, so that the file finds it when it is taken.
  if (has_sidecar) {
    if (int err = RenameNoReplaceAt(failed->get(), sidecar, dir_fd_.get(), sidecar); err != 0) {
      return Unwritable(err, "cannot move " + sidecar + " back into the inbox");
    }
  }
  if (int err = RenameNoReplaceAt(failed->get(), name, dir_fd_.get(), name); err != 0) {
    if (has_sidecar) RenameNoReplaceAt(dir_fd_.get(), sidecar, failed->get(), sidecar);
    return Unwritable(err, "cannot move " + name + " back into the inbox");
  }
  ::unlinkat(failed->get(), (name + std::string(kErrorJson)).c_str(), 0);
  return {};
}

}  // namespace certinbox::watchers
