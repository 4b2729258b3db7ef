#include "daemon/drop_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/fd.h"
#include "base/file.h"
#include "base/text.h"
#include "pipeline/names.h"
#include "storage/metadata.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxSidecarBytes = 64 * 1024;
constexpr uint64_t kMaxPasswordFileBytes = 64 * 1024;

// A path as it may appear in a message or a log line: escaped (a file name is a stranger's).
std::string Shown(const fs::path& path) { return base::Escape(path.native()); }

base::Result<std::string> ReadAt(int dir_fd, const fs::path& file, uint64_t max_bytes,
                                 FileIdentity* seen, bool refuse_hard_links);

// One candidate password a line; a trailing "\r" (files written on Windows) is not part of it.
base::Result<void> AddPasswordLines(base::Result<std::string> text,
                                    std::vector<pipeline::SecretBytes>& out) {
  if (!text) return std::unexpected(text.error());
  pipeline::SecretBytes secret(*text);
  std::string_view rest = secret.view();
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) out.emplace_back(line);
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return {};
}

std::string Where(const fs::path& file, const toml::source_region& region) {
  return Shown(file) + ":" + std::to_string(region.begin.line) + ":" +
         std::to_string(region.begin.column);
}

// A sidecar's password_file: a hidden file directly in the inbox (".NAME"), read through the
// inbox's descriptor like the drop itself. Nothing outside the inbox is opened, so no answer
// (missing, unreadable, how many lines) says anything about a file elsewhere.
base::Result<void> AddSidecarPasswordFile(int dir_fd, std::string_view name,
                                          std::vector<pipeline::SecretBytes>& out) {
  if (name.size() < 2 || name.front() != '.' || name == ".." ||
      name.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos) {
    return base::Fail(base::code::kBadSidecar,
                      "a sidecar's password_file must name a hidden file (\".NAME\") in the "
                      "same inbox, with no folder part: \"" +
                          base::Shorten(base::Escape(name), 64) + "\" is not one");
  }
  auto text = ReadAt(dir_fd, std::string(name), kMaxPasswordFileBytes, nullptr, true);
  if (!text) {
    return base::Fail(base::code::kBadSidecar, "its password_file " + Shown(std::string(name)) +
                                                   " cannot be used (" + text.error().code + ")");
  }
  return AddPasswordLines(std::move(text), out);
}

std::unexpected<base::Error> Bad(const fs::path& sidecar, const toml::node& node,
                                 const std::string& what) {
  return base::Fail(base::code::kBadSidecar, Where(sidecar, node.source()) + ": " + what);
}

std::optional<base::Error> BadName(const fs::path& sidecar, const toml::node& node,
                                   std::string_view text, pipeline::NameKind kind) {
  if (auto ok = pipeline::CheckName(text, kind); !ok) {
    return Bad(sidecar, node, ok.error().message).error();
  }
  return std::nullopt;
}

// An array of strings into `out`; false when it is something else.
bool StringList(const toml::node& node, std::vector<std::string>& out) {
  const auto* array = node.as_array();
  if (!array) return false;
  for (const auto& element : *array) {
    const auto* s = element.as_string();
    if (!s) return false;
    out.push_back(s->get());
  }
  return true;
}

// One key of a sidecar into `drop`.
base::Result<void> ReadSidecarKey(int dir_fd, const fs::path& sidecar, std::string_view name,
                                  const toml::node& node, Drop& drop) {
  if (name == "name" || name == "description" || name == "group" || name == "password" ||
      name == "password_file") {
    const auto* s = node.as_string();
    if (!s || s->get().empty())
      return Bad(sidecar, node, "'" + std::string(name) + "' must be a non-empty string");
    using pipeline::NameKind;
    if (name == "name" || name == "group") {
      auto kind = name == "name" ? NameKind::kEntryName : NameKind::kGroup;
      if (auto error = BadName(sidecar, node, s->get(), kind)) return std::unexpected(*error);
    }
    if (name == "name") drop.meta.name = s->get();
    if (name == "description") {
      if (s->get().size() > storage::kMaxDescriptionBytes) {
        return Bad(
            sidecar, node,
            "'description' is at most " + std::to_string(storage::kMaxDescriptionBytes) + " bytes");
      }
      drop.meta.description = s->get();
    }
    if (name == "group") {
      drop.meta.group = s->get();
      drop.meta.renew_groups = std::vector<std::string>{};  // renews in that group only
    }
    if (name == "password")
      drop.passwords.insert(drop.passwords.begin(), pipeline::SecretBytes(s->get()));
    if (name == "password_file") {
      if (auto added = AddSidecarPasswordFile(dir_fd, s->get(), drop.passwords); !added) {
        return Bad(sidecar, node, added.error().message);
      }
    }
  } else if (name == "labels") {
    std::vector<std::string> labels;
    if (!StringList(node, labels))
      return Bad(sidecar, node, "'labels' must be an array of strings");
    if (labels.size() > storage::kMaxLabels) {
      return Bad(sidecar, node,
                 "'labels' holds at most " + std::to_string(storage::kMaxLabels) +
                     " labels (an entry has no more)");
    }
    for (const std::string& label : labels) {
      if (auto error = BadName(sidecar, node, label, pipeline::NameKind::kLabel)) {
        return std::unexpected(*error);
      }
    }
    drop.meta.labels.insert(drop.meta.labels.end(), labels.begin(), labels.end());
  } else if (name == "bind") {
    if (!StringList(node, drop.meta.bind))
      return Bad(sidecar, node, "'bind' must be an array of resource names");
    for (const std::string& resource : drop.meta.bind) {
      if (auto ok = storage::CheckResourceName(resource); !ok) {
        return Bad(sidecar, node, "'bind': " + ok.error().message);
      }
    }
  } else if (name == "metadata") {
    const auto* meta = node.as_table();
    if (!meta) return Bad(sidecar, node, "'metadata' must be a table ([metadata])");
    std::ostringstream json;
    json << toml::json_formatter{*meta};
    auto parsed = nlohmann::json::parse(json.str(), nullptr, false);
    if (parsed.is_discarded()) return Bad(sidecar, node, "'metadata' cannot be expressed as JSON");
    if (auto ok = storage::CheckMetadata(parsed); !ok)
      return Bad(sidecar, node, ok.error().message);
    drop.meta.metadata = std::move(parsed);
  } else {
    return Bad(sidecar, node,
               "unknown key '" + std::string(name) +
                   "' (known: name, description, group, labels, metadata, password, "
                   "password_file, bind)");
  }
  return {};
}

base::Result<void> ReadSidecar(int dir_fd, const fs::path& sidecar, Drop& drop) {
  auto text = ReadAt(dir_fd, sidecar.filename(), kMaxSidecarBytes, &drop.sidecar.emplace(), true);
  if (!text) {
    if (text.error().code == base::code::kHardLink) {
      return base::Fail(base::code::kHardLink, "the sidecar " + text.error().message);
    }
    return base::Fail(base::code::kBadSidecar,
                      "the sidecar " + Shown(sidecar) + " cannot be read: " + text.error().message);
  }
  toml::table table;
  try {
    table = toml::parse(*text, Shown(sidecar));
  } catch (const toml::parse_error& e) {
    return base::Fail(base::code::kBadSidecar,
                      Where(sidecar, e.source()) + ": " + std::string(e.description()));
  }
  for (auto&& [key, node] : table) {
    if (auto ok = ReadSidecarKey(dir_fd, sidecar, key.str(), node, drop); !ok) return ok;
  }
  return {};
}

// An inbox with `groups` puts entries only in those groups and renews only their entries, so a
// sidecar's `group` cannot reach entries that other inboxes feed (docs/security.md).
base::Result<void> CheckGroupAllowed(const std::string& group, const InboxConfig& inbox) {
  if (!inbox.groups ||
      std::find(inbox.groups->begin(), inbox.groups->end(), group) != inbox.groups->end()) {
    return {};
  }
  std::string allowed;
  for (const std::string& name : *inbox.groups) allowed += (allowed.empty() ? "" : ", ") + name;
  return base::Fail(base::code::kGroupNotAllowed,
                    "the sidecar names the group '" + base::Shorten(base::Escape(group), 64) +
                        "', and a drop in inbox '" + inbox.name +
                        "' may only put entries in or renew entries of its groups (" +
                        base::Shorten(allowed, 256) +
                        "): drop it in an inbox for that group, or add the group to this "
                        "inbox's 'groups'");
}

FileIdentity IdentityOfStat(const struct stat& st) {
  return FileIdentity{
      .dev = static_cast<uint64_t>(st.st_dev),
      .ino = static_cast<uint64_t>(st.st_ino),
      .size = static_cast<uint64_t>(st.st_size),
      .mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
      .ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec,
  };
}

// A drop, its sidecar or a password file read through base::ReadRegularFileAt, with what the
// person who dropped it can do about a refusal. With `refuse_hard_links`, a file with another
// link ("hard_link") is not read: its other name may be anywhere on the filesystem, and what is
// done to this one (a chmod on archiving) reaches it.
base::Result<std::string> ReadAt(int dir_fd, const fs::path& file, uint64_t max_bytes,
                                 FileIdentity* seen, bool refuse_hard_links) {
  struct stat st {};
  auto bytes = base::ReadRegularFileAt(dir_fd, file,
                                       {.max_bytes = max_bytes,
                                        .refuse_hard_links = refuse_hard_links,
                                        .limit_name = "max_file_bytes",
                                        .seen = &st});
  if (!bytes) {
    base::Error& error = bytes.error();
    if (error.code == base::code::kSymlink) {
      error.message += ": drop the file itself";
    } else if (error.code == base::code::kNotRegularFile && error.message.ends_with(")")) {
      error.message += "; only regular files are imported";
    } else if (error.code == base::code::kHardLink) {
      error.message += ": drop a copy, not a link";
    } else if (error.code == base::code::kFileTooLarge && !error.message.ends_with(" read")) {
      error.message +=
          "; certificate files are far smaller: check it is the right file, or raise the "
          "inbox's limit";
    }
    return bytes;
  }
  if (seen != nullptr) *seen = IdentityOfStat(st);
  return bytes;
}

}  // namespace

std::optional<FileIdentity> IdentityOf(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return IdentityOfStat(st);
}

base::Result<Drop> ReadDrop(const fs::path& file, const std::optional<fs::path>& sidecar,
                            const InboxConfig& inbox) {
  Drop drop;
  // The drop, its sidecar and a sidecar's password_file are opened relative to the inbox.
  base::Fd dir(::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) {
    return base::Fail(
        base::code::kUnreadable,
        "cannot open the inbox " + Shown(file.parent_path()) + ": " + std::strerror(errno));
  }
  auto bytes = ReadAt(dir.get(), file.filename(), inbox.max_file_bytes, &drop.file, true);
  if (!bytes) return std::unexpected(bytes.error());
  drop.bytes = std::move(*bytes);
  drop.sha256 = pipeline::Sha256Hex(drop.bytes);
  drop.meta.group = inbox.group;
  // Without a sidecar group, the entry this certificate renews may be in another group the
  // inbox may write (one imported with a sidecar group, renewed without it).
  drop.meta.renew_groups = inbox.groups;
  drop.meta.labels = inbox.labels;
  if (sidecar) {
    if (auto read = ReadSidecar(dir.get(), *sidecar, drop); !read)
      return std::unexpected(read.error());
  }
  if (auto allowed = CheckGroupAllowed(drop.meta.group, inbox); !allowed) {
    return std::unexpected(allowed.error());
  }
  if (inbox.password_file) {
    auto text = base::ReadRegularFileAt(
        AT_FDCWD, *inbox.password_file,
        {.max_bytes = kMaxPasswordFileBytes, .limit_name = "max_file_bytes"});
    if (auto added = AddPasswordLines(std::move(text), drop.passwords); !added) {
      return base::Fail(base::code::kUnreadable, "the inbox's password_file " +
                                                     inbox.password_file->string() +
                                                     " cannot be read: " + added.error().message);
    }
  }
  std::sort(drop.meta.labels.begin(), drop.meta.labels.end());
  drop.meta.labels.erase(std::unique(drop.meta.labels.begin(), drop.meta.labels.end()),
                         drop.meta.labels.end());
  return drop;
}

}  // namespace certinbox::daemon
