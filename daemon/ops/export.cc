#include "daemon/ops/export.h"

#include <spdlog/spdlog.h>

#include "base/error_codes.h"
#include "base/wire.h"
#include "daemon/material_pem.h"
#include "daemon/wipe.h"
#include "pipeline/export.h"

namespace certinbox::daemon::ops {

using nlohmann::json;

void ExportOp::Register(OpRegistry& registry) {
  registry.Add("export", [this](const Request& request) { return Export(request); });
}

std::optional<base::Error> ExportOp::KeyRefusal(const Request& request) const {
  if (request.Has("plugin")) {
    // docs/plugins.md: a plugin gets a key only for a resource bound to it.
    return base::Error{base::code::kForbidden,
                       "plugins fetch keys with `material`, only for resources bound to them"};
  }
  if (!config_.allow_key_export) {
    return base::Error{base::code::kKeyExportDisabled,
                       "private keys may not be exported: [bus] allow_key_export is false in the "
                       "daemon's config"};
  }
  if (!config_.control_endpoint.starts_with("ipc://") && request.peer().role != "keys") {
    // The role check refused this already (daemon/roles.h); kept so that no path to a key over
    // tcp:// depends on one check alone.
    return base::Error{base::code::kKeyExportForbidden,
                       "over tcp:// private keys are exported only to a client whose "
                       "[[bus.client]] role is keys"};
  }
  return std::nullopt;
}

base::Result<json> ExportOp::Export(const Request& request) {
  auto entry = request.RequiredString("entry");
  auto key_arg = request.Bool("key");
  auto pfx_arg = request.Bool("pfx");
  auto password = request.String("password");
  if (auto bad = base::FirstError(entry, key_arg, pfx_arg, password)) return std::unexpected(*bad);
  const bool want_key = key_arg->value_or(false);
  const bool want_pfx = pfx_arg->value_or(false);
  if (want_pfx && (!*password || (*password)->empty())) {
    return BadRequest("a PKCS#12 needs a non-empty 'password' (it protects the private key)");
  }
  if (want_pfx && (*password)->find('\0') != std::string::npos) {
    // OpenSSL takes the password as a C string: it would end at the NUL, and the key would be
    // protected by less of it than the caller chose.
    return BadRequest("the 'password' of a PKCS#12 must not contain a NUL character");
  }
  const base::UnixTime now = clock_.Now();
  auto material = inventory_.ExportMaterialFor(*entry, /*with_key=*/false, now);
  if (!material) return std::unexpected(material.error());

  std::vector<std::string> what;
  if (want_key) what.emplace_back("key");
  if (want_pfx) what.emplace_back("pkcs12");
  const std::string who = request.peer().Who();
  auto audit = [&](const std::string& outcome, const std::string& reason) {
    for (const auto& item : what) {
      storage::KeyExportRecord record{.entry_id = material->entry_id,
                                      .entry_name = material->group + "/" + material->name,
                                      .version = material->version,
                                      .what = item,
                                      .outcome = outcome,
                                      .reason = reason,
                                      .endpoint = config_.control_endpoint + " by " + who,
                                      .now = now};
      if (auto ok = inventory_.RecordKeyExport(record); !ok) {
        spdlog::error("key export audit: {}", ok.error().message);
      }
      spdlog::warn("key export of {}/{} v{} ({}) asked by {}: {}{}", ForLog(material->group),
                   ForLog(material->name), material->version, item, who, outcome,
                   reason.empty() ? "" : " (" + reason + ")");
    }
  };

  if (!what.empty()) {
    std::optional<base::Error> refusal = KeyRefusal(request);
    if (!refusal) {
      auto with_key = inventory_.ExportMaterialFor(*entry, /*with_key=*/true, now);
      if (!with_key) {
        refusal = with_key.error();
      } else {
        material = std::move(with_key);
      }
    }
    if (refusal) {
      audit("refused", refusal->code);
      return std::unexpected(*refusal);
    }
  }

  json reply = {
      {"name", material->name}, {"group", material->group}, {"version", material->version}};
  reply.update(CertificatePems(*material));
  if (want_pfx) {
    auto p12 = pipeline::BuildPkcs12(material->cert_der, material->chain_der,
                                     material->key_pkcs8.view(), **password, material->name);
    if (!p12) {
      audit("refused", p12.error().code);
      return std::unexpected(p12.error());
    }
    reply[base::reply::kPkcs12Base64] = pipeline::Base64(*p12);
    WipeString(*p12);  // the reply's copy is wiped once sent (ControlServer)
  }
  if (want_key) reply[base::reply::kKeyPem] = KeyPem(*material);
  audit("exported", "");
  return reply;
}

}  // namespace certinbox::daemon::ops
