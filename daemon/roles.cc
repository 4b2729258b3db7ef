#include "daemon/roles.h"

#include <set>

namespace certinbox::daemon {
namespace {

using nlohmann::json;

// An argument that asks for key material: anything but absent, null or false (a malformed
// value is refused by the op later, but it must not slip past the role check first).
bool Asks(const json& request, const char* key) {
  auto it = request.find(key);
  return it != request.end() && !it->is_null() && *it != false;
}

}  // namespace

std::string TextArg(const json& request, const char* key) {
  auto it = request.find(key);
  return it != request.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool IsPluginOp(std::string_view op) {
  static const std::set<std::string, std::less<>> kPluginOps = {
      "plugin.hello", "plugin.bindings", "material", "push.report", "plugin.report"};
  return kPluginOps.contains(op);
}

OpKind KindOf(const json& request) {
  static const std::set<std::string> kChanges = {"bind", "unbind",     "rm",    "rollback",
                                                 "meta", "csr.create", "retry", "cursor.delete"};
  const std::string op = TextArg(request, "op");
  if (op == "plugin.env") return OpKind::kKeyMaterial;
  if (op == "export") {
    return Asks(request, "key") || Asks(request, "pfx") ? OpKind::kKeyMaterial : OpKind::kRead;
  }
  if (op == "material") return Asks(request, "key") ? OpKind::kKeyMaterial : OpKind::kPlugin;
  if (IsPluginOp(op)) return OpKind::kPlugin;
  if (kChanges.contains(op)) return OpKind::kChange;
  // A plugin's cursor tells the supervisor what its plugin has handled: moving it is a change.
  if (op == "ack" && TextArg(request, "cursor").starts_with("plugin:")) return OpKind::kChange;
  return OpKind::kRead;
}

bool RoleAllows(std::string_view role, const json& request) {
  const OpKind kind = KindOf(request);
  if (role == "read") return kind == OpKind::kRead;
  if (role == "admin") return kind != OpKind::kKeyMaterial;
  if (role == "keys") return kind == OpKind::kRead || kind == OpKind::kKeyMaterial;
  if (role.starts_with("plugin:")) {
    const std::string plugin(role.substr(7));
    const std::string op = TextArg(request, "op");
    if (op == "events") return true;
    if (op == "ack") return TextArg(request, "cursor") == "plugin:" + plugin;
    if (kind == OpKind::kPlugin || op == "material") return TextArg(request, "plugin") == plugin;
    return false;
  }
  return false;
}

}  // namespace certinbox::daemon
