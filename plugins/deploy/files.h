// The files certinbox-deploy keeps in a resource's folder, each replaced atomically.
#pragma once

#include <sys/types.h>

#include <expected>
#include <string>

#include "base/error.h"

namespace certinbox::deploy {

// Replaces `folder`/`name` with `bytes` so that a reader sees the old file or the new one, never a
// part: a temporary file in the same folder is created with `mode` from the start (0600 for a
// key: never readable by others, not even for a moment), written, fsynced, renamed over `name`,
// and the folder is fsynced. The final mode is exactly `mode` (not reduced by the umask). The
// temporary file is removed on failure. The error is a sentence naming the file and the cause.
base::Result<void> WriteFileAtomically(const std::string& folder, const std::string& name,
                                       const std::string& bytes, mode_t mode);

// Creates `folder` and its missing parents (0755; the files carry their own modes).
base::Result<void> EnsureFolder(const std::string& folder);

// Removes `folder`/`name` if it exists; a missing file is not an error.
base::Result<void> RemoveFile(const std::string& folder, const std::string& name);

}  // namespace certinbox::deploy
