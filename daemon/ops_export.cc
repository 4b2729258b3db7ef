// The export op: an entry's certificate, chain and full chain as PEM, and, when asked and
// allowed, its private key (PEM) or a PKCS#12 built here with the caller's password.
//
// Key material leaves the daemon only through this op, and only when
//   - [bus] allow_key_export is true (the default), and
//   - the control endpoint is ipc:// (the socket file's mode 0660 and the state folder's 0750
//     restrict it to the daemon's user and group), or tcp:// and the CURVE client's
//     [[bus.client]] role is `keys`.
// The audit row's endpoint and the log line say who asked (ControlServer::Peer::Who).
// Every request for key material, exported or refused, is a row of the key_exports audit log
// (shown by `certinbox show NAME --json` as "key_exports") and a line in the daemon's log.
#include <spdlog/spdlog.h>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "daemon/control_args.h"
#include "daemon/daemon.h"
#include "daemon/material_pem.h"
#include "daemon/wipe.h"
#include "pipeline/export.h"

namespace certinbox::daemon {

namespace {

using nlohmann::json;

}  // namespace

// size: one lambda per op, registered together; each becomes a handler of its own with the
// control-op registry (issue 13, item 1), which replaces this function.
void Daemon::RegisterExportOps() {
  AddOp("export", [this](const json& request) {
    const std::string entry = RequiredString(request, "entry");
    const bool want_key = BoolArg(request, "key").value_or(false);
    const bool want_pfx = BoolArg(request, "pfx").value_or(false);
    const std::optional<std::string> password = StringArg(request, "password");
    if (want_pfx && (!password || password->empty())) {
      return ControlServer::ErrorReply(
          base::code::kBadRequest,
          "a PKCS#12 needs a non-empty 'password' (it protects the private key)");
    }
    const base::UnixTime now = base::UnixNow();
    auto material = inventory_->ExportMaterialFor(entry, /*with_key=*/false, now);
    if (!material) return Failure(material.error());

    std::vector<std::string> what;
    if (want_key) what.emplace_back("key");
    if (want_pfx) what.emplace_back("pkcs12");
    auto audit = [&](const std::string& outcome, const std::string& reason) {
      for (const auto& item : what) {
        storage::KeyExportRecord record{.entry_id = material->entry_id,
                                        .entry_name = material->group + "/" + material->name,
                                        .version = material->version,
                                        .what = item,
                                        .outcome = outcome,
                                        .reason = reason,
                                        .endpoint = config_.control_endpoint + " by " + peer_.Who(),
                                        .now = now};
        if (auto ok = inventory_->RecordKeyExport(record); !ok) {
          spdlog::error("key export audit: {}", ok.error().message);
        }
        spdlog::warn("key export of {}/{} v{} ({}) asked by {}: {}{}", ForLog(material->group),
                     ForLog(material->name), material->version, item, peer_.Who(), outcome,
                     reason.empty() ? "" : " (" + reason + ")");
      }
    };

    if (!what.empty()) {
      std::optional<base::Error> refusal;
      if (request.contains("plugin")) {
        // docs/plugins.md: a plugin gets a key only for a resource bound to it.
        refusal = base::Error{base::code::kForbidden,
                              "plugins fetch keys with `material`, only for resources bound "
                              "to them"};
      } else if (!config_.allow_key_export) {
        refusal = base::Error{base::code::kKeyExportDisabled,
                              "private keys may not be exported: [bus] allow_key_export is "
                              "false in the daemon's config"};
      } else if (!config_.control_endpoint.starts_with("ipc://") && peer_.role != "keys") {
        // The role check refused this already (daemon/roles.h); kept so that no path to a
        // key over tcp:// depends on one check alone.
        refusal = base::Error{base::code::kKeyExportForbidden,
                              "over tcp:// private keys are exported only to a client "
                              "whose [[bus.client]] role is keys"};
      }
      if (!refusal) {
        auto with_key = inventory_->ExportMaterialFor(entry, /*with_key=*/true, now);
        if (!with_key) {
          refusal = with_key.error();
        } else {
          material = std::move(with_key);
        }
      }
      if (refusal) {
        audit("refused", refusal->code);
        return Failure(*refusal);
      }
    }

    json reply = {
        {"name", material->name}, {"group", material->group}, {"version", material->version}};
    reply.update(CertificatePems(*material));
    if (want_pfx) {
      auto p12 = pipeline::BuildPkcs12(material->cert_der, material->chain_der,
                                       material->key_pkcs8.view(), *password, material->name);
      if (!p12) {
        audit("refused", p12.error().code);
        return Failure(p12.error());
      }
      reply["pkcs12_base64"] = pipeline::Base64(*p12);
      WipeString(*p12);  // the reply's copy is wiped once sent (ControlServer)
    }
    if (want_key) {
      reply["key_pem"] = KeyPem(*material);
    }
    audit("exported", "");
    return reply;
  });
}

}  // namespace certinbox::daemon
