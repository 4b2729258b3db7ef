// Whether an inbox folder can be watched by this user, asked before the daemon starts
// (`certinboxd --check`): the same reasons the watcher would fail for, in advance.
#pragma once

#include <filesystem>
#include <string>

namespace certinbox::daemon {

// "" when `path` looks watchable; else why not: it is not a folder, its parent folder is missing
// (certinboxd makes the inbox folder itself, never its parents), or this user cannot read and
// write the folder (or, to make it, its parent).
std::string InboxPathProblem(const std::filesystem::path& path);

}  // namespace certinbox::daemon
