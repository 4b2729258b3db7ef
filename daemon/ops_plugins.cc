// Control ops of plugins (docs/plugins.md "Control requests of plugins"): plugin.hello,
// plugin.bindings, material, push.report, plugin.report.
//
// Every request names its plugin and carries its token, the daemon's HMAC of "plugin:NAME"
// under a key derived from the master key (storage::Inventory::Tag). The plugin must be one of
// the config's [[plugin]]s (else unknown_plugin) and the token must match (else
// unauthenticated). A plugin then sees and reports only the resources bound to it: anything
// else is `forbidden`, and a refused or served private key is a row of the key export audit log
// (endpoint "plugin:NAME").
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <expected>

#include "base/error_codes.h"
#include "base/time.h"
#include "daemon/control_args.h"
#include "daemon/daemon.h"
#include "daemon/material_pem.h"
#include "storage/summary.h"

namespace certinbox::daemon {

namespace {

using nlohmann::json;

constexpr size_t kLoggedMessage = 1024;  // of a plugin's report, in the daemon's log

bool SameSecret(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

// size: one lambda per op, registered together; each becomes a handler of its own with the
// control-op registry (issue 13, item 1), which replaces this function.
void Daemon::RegisterPluginOps() {
  // The plugin a request speaks for, or the error reply.
  auto authenticate = [this](const json& request) -> std::expected<const PluginConfig*, json> {
    const std::string name = RequiredString(request, "plugin");
    const std::string op = request.value("op", "");
    auto plugin = ConfiguredPlugin(name);
    if (!plugin) {
      spdlog::warn("plugin request {} refused: no [[plugin]] is named '{}'", op, ForLog(name));
      return std::unexpected(Failure(plugin.error()));
    }
    const std::string token = StringArg(request, "token").value_or("");
    if (!SameSecret(inventory_->Tag("plugin:" + name), token)) {
      spdlog::warn("plugin request {} refused: wrong or missing token for plugin {}", op, name);
      return std::unexpected(ControlServer::ErrorReply(
          base::code::kUnauthenticated, "the token of plugin '" + name +
                                            "' is wrong or missing (a supervised plugin gets it in "
                                            "CERTINBOX_PLUGIN_TOKEN; `certinbox plugin env " +
                                            name + "` prints it)"));
    }
    return *plugin;
  };

  AddOp("plugin.hello", [this, authenticate](const json& request) -> json {
    auto plugin = authenticate(request);
    if (!plugin) return plugin.error();
    const std::string& name = (*plugin)->name;
    const std::string cursor = "plugin:" + name;
    auto seq = inventory_->CursorSeq(cursor);
    if (!seq) return Failure(seq.error());
    if (!*seq) {
      // The supervisor makes the cursor when the plugin is configured; one run by hand before
      // that starts from now, as a new plugin does.
      auto made = inventory_->AckCursor(cursor, publisher_->last_published_seq(), base::UnixNow());
      if (!made) return Failure(made.error());
      *seq = *made;
    }
    spdlog::info("plugin {}: hello (cursor at {})", name, **seq);
    return {{"plugin", name},
            {"cursor", cursor},
            {"seq", **seq},
            {"events", (*plugin)->events},
            {"options", storage::ParseJsonOr((*plugin)->options_json, json::object())},
            {"last_seq", publisher_->last_published_seq()}};
  });

  AddOp("plugin.bindings", [this, authenticate](const json& request) -> json {
    auto plugin = authenticate(request);
    if (!plugin) return plugin.error();
    auto bindings = inventory_->PluginBindings((*plugin)->name, base::UnixNow());
    if (!bindings) return Failure(bindings.error());
    return {{"bindings", std::move(*bindings)}};
  });

  AddOp("material", [this, authenticate](const json& request) -> json {
    auto plugin = authenticate(request);
    if (!plugin) return plugin.error();
    const std::string& name = (*plugin)->name;
    const std::string resource = RequiredString(request, "resource");
    const bool want_key = BoolArg(request, "key").value_or(false);
    const base::UnixTime now = base::UnixNow();
    auto binding = inventory_->BindingOfResource(resource);
    if (!binding) return Failure(binding.error());

    auto audit = [&](int64_t entry_id, const std::string& entry, int64_t version,
                     const std::string& outcome, const std::string& reason) {
      storage::KeyExportRecord record{.entry_id = entry_id,
                                      .entry_name = entry,
                                      .version = version,
                                      .what = "key",
                                      .outcome = outcome,
                                      .reason = reason,
                                      .endpoint = "plugin:" + name,
                                      .now = now};
      if (auto ok = inventory_->RecordKeyExport(record); !ok) {
        spdlog::error("key export audit: {}", ok.error().message);
      }
      auto line = fmt::format("key export of {} v{} (key) to plugin {} for {}: {}{}", ForLog(entry),
                              version, name, ForLog(resource), outcome,
                              reason.empty() ? "" : " (" + reason + ")");
      if (outcome == "exported") {
        spdlog::info("{}", line);
      } else {
        spdlog::warn("{}", line);
      }
    };

    if (!*binding || (*binding)->plugin != name) {
      std::string why = !*binding ? "nothing is bound to " + resource
                        : (*binding)->plugin
                            ? resource + " is bound to plugin " + *(*binding)->plugin
                            : resource + " is bound to no plugin";
      spdlog::warn("plugin {}: material of {} refused: {}", name, ForLog(resource), ForLog(why));
      if (want_key) {
        if (*binding) {
          // The version it would have got, for the audit row.
          auto current = inventory_->ExportMaterialFor(std::to_string((*binding)->entry_id),
                                                       /*with_key=*/false, now);
          audit((*binding)->entry_id, (*binding)->entry, current ? current->version : 0, "refused",
                base::code::kForbidden);
        } else {
          audit(0, "(no entry: " + resource + " is not bound)", 0, "refused",
                base::code::kForbidden);
        }
      }
      return ControlServer::ErrorReply(
          base::code::kForbidden,
          why + ": plugin " + name + " gets material only for resources bound to it");
    }

    const storage::ResourceBinding& bound = **binding;
    const std::string entry_id = std::to_string(bound.entry_id);
    auto material = inventory_->ExportMaterialFor(entry_id, want_key, now);
    if (!material) {
      if (want_key) audit(bound.entry_id, bound.entry, 0, "refused", material.error().code);
      return Failure(material.error());
    }
    auto shown = inventory_->Show(entry_id, now);
    if (!shown) return Failure(shown.error());
    json reply = {{"resource", resource},
                  {"entry", bound.entry},
                  {"id", bound.entry_id},
                  {"version", material->version},
                  {"fingerprint_sha256", shown->value("fingerprint_sha256", json())},
                  {"not_after", shown->value("not_after", json())}};
    reply.update(CertificatePems(*material));
    if (want_key) {
      reply["key_pem"] = KeyPem(*material);
      audit(bound.entry_id, bound.entry, material->version, "exported", "");
    }
    return reply;
  });

  AddOp("push.report", [this, authenticate](const json& request) -> json {
    auto plugin = authenticate(request);
    if (!plugin) return plugin.error();
    storage::PushRecord record;
    record.plugin = (*plugin)->name;
    record.resource = RequiredString(request, "resource");
    auto version = IntArg(request, "version", 1, kMaxSeq);
    if (!version) throw std::invalid_argument("'version' (the entry version pushed) is required");
    auto ok = BoolArg(request, "ok");
    if (!ok) throw std::invalid_argument("'ok' (true: the push succeeded) is required");
    record.version = *version;
    record.ok = *ok;
    record.message = StringArg(request, "message").value_or("");
    record.exit_status = IntArg(request, "exit_status", INT32_MIN, INT32_MAX);
    record.output = StringArg(request, "output").value_or("");
    record.now = base::UnixNow();
    auto event = inventory_->RecordPush(record);
    if (!event) return Failure(event.error());
    if (record.ok) {
      spdlog::info("plugin {}: pushed v{} to {}: {}", record.plugin, record.version,
                   ForLog(record.resource), ForLog(record.message, kLoggedMessage));
    } else {
      spdlog::warn("plugin {}: push of v{} to {} failed: {}", record.plugin, record.version,
                   ForLog(record.resource), ForLog(record.message, kLoggedMessage));
    }
    const int64_t seq = event->seq;
    PublishAll({std::move(*event)});
    return {{"seq", seq}};
  });

  AddOp("plugin.report", [this, authenticate](const json& request) -> json {
    auto plugin = authenticate(request);
    if (!plugin) return plugin.error();
    const std::string level = RequiredString(request, "level");
    const std::string message = Shorten(StringArg(request, "message").value_or(""), kLoggedMessage);
    const std::string& name = (*plugin)->name;
    if (level == "error") {
      spdlog::error("plugin {} reports: {}", name, ForLog(message, kLoggedMessage));
      if (plugins_) plugins_->NoteError(name, message);  // its last_error in status
    } else if (level == "warning") {
      spdlog::warn("plugin {} reports: {}", name, ForLog(message, kLoggedMessage));
    } else if (level == "info") {
      spdlog::info("plugin {} reports: {}", name, ForLog(message, kLoggedMessage));
    } else {
      throw std::invalid_argument("'level' is error, warning or info");
    }
    return json::object();
  });
}

}  // namespace certinbox::daemon
