// Who may connect to an ipc:// socket besides its owner and group: the users of [[plugin]]s
// with `user` (docs/plugins.md "Users"), by a POSIX ACL on the socket file.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "base/error.h"
#include "pipeline/error.h"

namespace certinbox::daemon {

// Makes the socket file of `endpoint` readable and writable (connectable) by its owner, its
// group and each of `uids`, and by nobody else: the file's mode stays 0660 and the ACL names
// the extra users. No uids: the ACL is removed (plain 0660). A tcp:// endpoint is left alone.
// Fails (code "ipc_access") when the file system has no POSIX ACLs or the file is not there.
base::Result<void> GrantIpcUsers(const std::string& endpoint, const std::set<uint32_t>& uids);

}  // namespace certinbox::daemon
