#include "daemon/material_pem.h"

#include "base/wire.h"
#include "pipeline/export.h"

namespace certinbox::daemon {

nlohmann::json CertificatePems(const storage::ExportMaterial& material) {
  const std::string cert_pem = pipeline::PemEncode("CERTIFICATE", material.cert_der);
  std::string chain_pem;
  for (const auto& der : material.chain_der) chain_pem += pipeline::PemEncode("CERTIFICATE", der);
  return {{base::reply::kCertPem, cert_pem},
          {base::reply::kChainPem, chain_pem},
          {base::reply::kFullchainPem, cert_pem + chain_pem}};
}

std::string KeyPem(const storage::ExportMaterial& material) {
  if (material.key_pkcs8.view().empty()) return {};
  return std::string(pipeline::PrivateKeyPem(material.key_pkcs8.view()).view());
}

}  // namespace certinbox::daemon
