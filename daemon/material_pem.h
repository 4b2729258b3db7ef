// The PEM fields of an entry's exported material, shared by `export` (daemon/ops/export.cc) and
// plugins' `material` (daemon/ops/plugins.cc).
#pragma once

#include <nlohmann/json.hpp>

#include "storage/inventory.h"

namespace certinbox::daemon {

// {"cert_pem", "chain_pem" (the stored intermediates, issuer first), "fullchain_pem"}.
nlohmann::json CertificatePems(const storage::ExportMaterial& material);

// The private key as PKCS#8 PEM; empty when the material holds no key.
std::string KeyPem(const storage::ExportMaterial& material);

}  // namespace certinbox::daemon
