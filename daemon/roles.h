// What each [[bus.client]] role may ask of the control socket (docs/protocol.md "Roles").
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace certinbox::daemon {

enum class OpKind {
  kRead,         // ls, show, status, events, cursors, csr.show, export of certificates, ack
  kChange,       // bind, unbind, rm, rollback, meta, csr.create, cursor.delete, ack of plugin:*
  kKeyMaterial,  // export with key or pfx, plugin.env (tokens), material with key
  kPlugin,       // plugin.hello, plugin.bindings, material, push.report, plugin.report
};

// The argument `key` of `request` when it is a string, else "" (for checks made before the op
// reads its arguments).
std::string TextArg(const nlohmann::json& request, const char* key);
// One of the ops a plugin makes with its token: plugin.hello, plugin.bindings, material,
// push.report, plugin.report.
bool IsPluginOp(std::string_view op);

// The kind of `request` by its op and arguments; an unknown op is kRead (it gets bad_request).
OpKind KindOf(const nlohmann::json& request);

// Whether a client of `role` ("read", "admin", "keys", "plugin:NAME") may make `request`:
//   read: kRead;  admin: all but kKeyMaterial;  keys: kRead and kKeyMaterial;
//   plugin:NAME: kPlugin and material naming plugin NAME, events, ack of cursor plugin:NAME.
// Any other role (a client removed by a reload): nothing.
bool RoleAllows(std::string_view role, const nlohmann::json& request);

}  // namespace certinbox::daemon
