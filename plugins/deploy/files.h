// The files certinbox-deploy keeps in a resource's folder, each replaced atomically.
#pragma once

#include <sys/types.h>

#include <expected>
#include <string>

#include "base/error.h"

namespace certinbox::deploy {

// Replaces `folder`/`name` with `bytes` by base::WriteFileAtomically (a reader sees the old file
// or the new one, never a part; 0600 for a key is never readable by others, not even for a
// moment), with the final mode exactly `mode` (not reduced by the umask) and the folder fsynced.
// Fails with deploy_failed and a sentence naming the file and the cause.
base::Result<void> WriteDeployedFile(const std::string& folder, const std::string& name,
                                     const std::string& bytes, mode_t mode);

// Creates `folder` and its missing parents (0755; the files carry their own modes).
base::Result<void> EnsureFolder(const std::string& folder);

// Removes `folder`/`name` if it exists; a missing file is not an error.
base::Result<void> RemoveFile(const std::string& folder, const std::string& name);

}  // namespace certinbox::deploy
