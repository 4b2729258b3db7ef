#include "daemon/ops/plugins.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "base/error_codes.h"
#include "base/wire.h"
#include "daemon/material_pem.h"
#include "storage/summary.h"

namespace certinbox::daemon::ops {
namespace {

using nlohmann::json;

constexpr size_t kLoggedMessage = 1024;  // of a plugin's report, in the daemon's log

bool SameSecret(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

void PluginOps::Register(OpRegistry& registry) {
  // Each op is answered for an authenticated plugin only.
  auto add = [&](const char* op, auto answer) {
    registry.Add(op, [this, answer](const Request& request) -> base::Result<json> {
      auto plugin = Authenticate(request);
      if (!plugin) return std::unexpected(plugin.error());
      return answer(**plugin, request);
    });
  };
  add("plugin.hello", [this](const PluginConfig& plugin, const Request&) { return Hello(plugin); });
  add("plugin.bindings",
      [this](const PluginConfig& plugin, const Request&) { return Bindings(plugin); });
  add("material", [this](const PluginConfig& plugin, const Request& request) {
    return Material(plugin, request);
  });
  add("push.report", [this](const PluginConfig& plugin, const Request& request) {
    return PushReport(plugin, request);
  });
  add("plugin.report", [this](const PluginConfig& plugin, const Request& request) {
    return Report(plugin, request);
  });
}

base::Result<const PluginConfig*> PluginOps::Authenticate(const Request& request) const {
  auto name = request.RequiredString("plugin");
  if (!name) return std::unexpected(name.error());
  const std::string op = request.body().value("op", "");
  auto plugin = FindPlugin(config_, *name);
  if (!plugin) {
    spdlog::warn("plugin request {} refused: no [[plugin]] is named '{}'", op, ForLog(*name));
    return plugin;
  }
  auto token = request.String("token");
  if (!token) return std::unexpected(token.error());
  if (!SameSecret(inventory_.Tag("plugin:" + *name), token->value_or(""))) {
    spdlog::warn("plugin request {} refused: wrong or missing token for plugin {}", op, *name);
    return base::Fail(base::code::kUnauthenticated,
                      "the token of plugin '" + *name +
                          "' is wrong or missing (a supervised plugin gets it in "
                          "CERTINBOX_PLUGIN_TOKEN; `certinbox plugin env " +
                          *name + "` prints it)");
  }
  return plugin;
}

base::Result<json> PluginOps::Hello(const PluginConfig& plugin) {
  const std::string cursor = "plugin:" + plugin.name;
  auto seq = inventory_.CursorSeq(cursor);
  if (!seq) return std::unexpected(seq.error());
  if (!*seq) {
    // The supervisor makes the cursor when the plugin is configured; one run by hand before
    // that starts from now, as a new plugin does.
    auto made = inventory_.AckCursor(cursor, publisher_.last_published_seq(), clock_.Now());
    if (!made) return std::unexpected(made.error());
    *seq = *made;
  }
  spdlog::info("plugin {}: hello (cursor at {})", plugin.name, **seq);
  return json{{"plugin", plugin.name},
              {"cursor", cursor},
              {"seq", **seq},
              {"events", plugin.events},
              {"options", storage::ParseJsonOr(plugin.options_json, json::object())},
              {"last_seq", publisher_.last_published_seq()}};
}

base::Result<json> PluginOps::Bindings(const PluginConfig& plugin) {
  auto bindings = inventory_.PluginBindings(plugin.name, clock_.Now());
  if (!bindings) return std::unexpected(bindings.error());
  return json{{"bindings", std::move(*bindings)}};
}

void PluginOps::Audit(const std::string& plugin, const std::string& resource, const KeyAudit& audit,
                      base::UnixTime now) {
  storage::KeyExportRecord record{.entry_id = audit.entry_id,
                                  .entry_name = audit.entry,
                                  .version = audit.version,
                                  .what = "key",
                                  .outcome = audit.outcome,
                                  .reason = audit.reason,
                                  .endpoint = "plugin:" + plugin,
                                  .now = now};
  if (auto ok = inventory_.RecordKeyExport(record); !ok) {
    spdlog::error("key export audit: {}", ok.error().message);
  }
  auto line = fmt::format("key export of {} v{} (key) to plugin {} for {}: {}{}",
                          ForLog(audit.entry), audit.version, plugin, ForLog(resource),
                          audit.outcome, audit.reason.empty() ? "" : " (" + audit.reason + ")");
  if (audit.outcome == "exported") {
    spdlog::info("{}", line);
  } else {
    spdlog::warn("{}", line);
  }
}

base::Result<json> PluginOps::Material(const PluginConfig& plugin, const Request& request) {
  const std::string& name = plugin.name;
  auto resource_arg = request.RequiredString("resource");
  auto key_arg = request.Bool("key");
  if (auto bad = base::FirstError(resource_arg, key_arg)) return std::unexpected(*bad);
  const std::string& resource = *resource_arg;
  const bool want_key = key_arg->value_or(false);
  const base::UnixTime now = clock_.Now();
  auto binding = inventory_.BindingOfResource(resource);
  if (!binding) return std::unexpected(binding.error());

  if (!*binding || (*binding)->plugin != name) {
    std::string why = !*binding            ? "nothing is bound to " + resource
                      : (*binding)->plugin ? resource + " is bound to plugin " + *(*binding)->plugin
                                           : resource + " is bound to no plugin";
    spdlog::warn("plugin {}: material of {} refused: {}", name, ForLog(resource), ForLog(why));
    if (want_key) {
      if (*binding) {
        // The version it would have got, for the audit row.
        auto current = inventory_.ExportMaterialFor(std::to_string((*binding)->entry_id),
                                                    /*with_key=*/false, now);
        Audit(name, resource,
              {(*binding)->entry_id, (*binding)->entry, current ? current->version : 0, "refused",
               base::code::kForbidden},
              now);
      } else {
        Audit(
            name, resource,
            {0, "(no entry: " + resource + " is not bound)", 0, "refused", base::code::kForbidden},
            now);
      }
    }
    return base::Fail(base::code::kForbidden,
                      why + ": plugin " + name + " gets material only for resources bound to it");
  }

  const storage::ResourceBinding& bound = **binding;
  const std::string entry_id = std::to_string(bound.entry_id);
  auto material = inventory_.ExportMaterialFor(entry_id, want_key, now);
  if (!material) {
    if (want_key) {
      Audit(name, resource, {bound.entry_id, bound.entry, 0, "refused", material.error().code},
            now);
    }
    return std::unexpected(material.error());
  }
  auto shown = inventory_.Show(entry_id, now);
  if (!shown) return std::unexpected(shown.error());
  json reply = {{"resource", resource},
                {"entry", bound.entry},
                {"id", bound.entry_id},
                {"version", material->version},
                {"fingerprint_sha256", shown->value("fingerprint_sha256", json())},
                {"not_after", shown->value("not_after", json())}};
  reply.update(CertificatePems(*material));
  if (want_key) {
    reply[base::reply::kKeyPem] = KeyPem(*material);
    Audit(name, resource, {bound.entry_id, bound.entry, material->version, "exported", ""}, now);
  }
  return reply;
}

base::Result<json> PluginOps::PushReport(const PluginConfig& plugin, const Request& request) {
  auto resource = request.RequiredString("resource");
  auto version = request.RequiredInt("version", 1, kMaxSeq, "the entry version pushed");
  auto ok = request.RequiredBool("ok", "true: the push succeeded");
  auto message = request.String("message");
  auto exit_status = request.Int("exit_status", INT32_MIN, INT32_MAX);
  auto output = request.String("output");
  if (auto bad = base::FirstError(resource, version, ok, message, exit_status, output)) {
    return std::unexpected(*bad);
  }
  storage::PushRecord record{.plugin = plugin.name,
                             .resource = *resource,
                             .version = *version,
                             .ok = *ok,
                             .message = message->value_or(""),
                             .exit_status = *exit_status,
                             .output = output->value_or(""),
                             .now = clock_.Now()};
  auto event = inventory_.RecordPush(record);
  if (!event) return std::unexpected(event.error());
  if (record.ok) {
    spdlog::info("plugin {}: pushed v{} to {}: {}", record.plugin, record.version,
                 ForLog(record.resource), ForLog(record.message, kLoggedMessage));
  } else {
    spdlog::warn("plugin {}: push of v{} to {} failed: {}", record.plugin, record.version,
                 ForLog(record.resource), ForLog(record.message, kLoggedMessage));
  }
  const int64_t seq = event->seq;
  publisher_.Publish(*event);
  return json{{"seq", seq}};
}

base::Result<json> PluginOps::Report(const PluginConfig& plugin, const Request& request) {
  auto level = request.RequiredString("level");
  auto message_arg = request.String("message");
  if (auto bad = base::FirstError(level, message_arg)) return std::unexpected(*bad);
  const std::string message = base::Shorten(message_arg->value_or(""), kLoggedMessage);
  const std::string& name = plugin.name;
  if (*level == "error") {
    spdlog::error("plugin {} reports: {}", name, ForLog(message, kLoggedMessage));
    supervisor_.NoteError(name, message);  // its last_error in status
  } else if (*level == "warning") {
    spdlog::warn("plugin {} reports: {}", name, ForLog(message, kLoggedMessage));
  } else if (*level == "info") {
    spdlog::info("plugin {} reports: {}", name, ForLog(message, kLoggedMessage));
  } else {
    return BadRequest("'level' is error, warning or info");
  }
  return json::object();
}

}  // namespace certinbox::daemon::ops
