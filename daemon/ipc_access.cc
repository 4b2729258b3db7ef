#include "daemon/ipc_access.h"

#include <endian.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/error.h"
#include "base/error_codes.h"

namespace certinbox::daemon {
namespace {

// The kernel's xattr form of an access ACL (linux/posix_acl_xattr.h): a little-endian version
// word, then entries {tag, perm, id} sorted by tag, then id.
constexpr uint32_t kAclVersion = 2;
constexpr uint16_t kUserObj = 0x01, kUser = 0x02, kGroupObj = 0x04, kMask = 0x10, kOther = 0x20;
constexpr uint16_t kReadWrite = 0x4 | 0x2;
constexpr uint32_t kNoId = 0xffffffff;

void Append(std::vector<char>& out, uint16_t tag, uint16_t perm, uint32_t id) {
  const uint16_t t = htole16(tag), p = htole16(perm);
  const uint32_t i = htole32(id);
  out.insert(out.end(), reinterpret_cast<const char*>(&t), reinterpret_cast<const char*>(&t) + 2);
  out.insert(out.end(), reinterpret_cast<const char*>(&p), reinterpret_cast<const char*>(&p) + 2);
  out.insert(out.end(), reinterpret_cast<const char*>(&i), reinterpret_cast<const char*>(&i) + 4);
}

}  // namespace

base::Result<void> GrantIpcUsers(const std::string& endpoint, const std::set<uint32_t>& uids) {
  if (!endpoint.starts_with("ipc://")) return {};
  const std::string path = endpoint.substr(6);
  constexpr const char* kName = "system.posix_acl_access";
  if (uids.empty()) {
    if (::removexattr(path.c_str(), kName) != 0 && errno != ENODATA && errno != EOPNOTSUPP) {
      return base::Fail(base::code::kIpcAccess,
                        "cannot remove the ACL of " + path + ": " + std::strerror(errno));
    }
    return {};
  }
  std::vector<char> acl;
  const uint32_t version = htole32(kAclVersion);
  acl.insert(acl.end(), reinterpret_cast<const char*>(&version),
             reinterpret_cast<const char*>(&version) + 4);
  Append(acl, kUserObj, kReadWrite, kNoId);
  for (uint32_t uid : uids) Append(acl, kUser, kReadWrite, uid);  // a std::set: sorted
  Append(acl, kGroupObj, kReadWrite, kNoId);
  Append(acl, kMask, kReadWrite, kNoId);
  Append(acl, kOther, 0, kNoId);
  if (::setxattr(path.c_str(), kName, acl.data(), acl.size(), 0) != 0) {
    std::string why = errno == EOPNOTSUPP
                          ? "its file system has no POSIX ACLs (mount it with acl, or put the "
                            "socket on one that has them)"
                          : std::strerror(errno);
    return base::Fail(base::code::kIpcAccess,
                      "cannot let plugins' users connect to " + path + ": " + why);
  }
  return {};
}

}  // namespace certinbox::daemon
