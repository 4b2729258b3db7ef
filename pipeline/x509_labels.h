// The name fields and serial of a certificate as x509-certificate-exporter labels them
// (its `subject_C` ... `issuer_CN` and `serial_number`), read with OpenSSL at import and stored
// with the version, so that a scrape never decodes a certificate.
#pragma once

#include <openssl/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace certinbox::pipeline {

// C, ST, L, O, OU, CN of one distinguished name, UTF-8; "" where the name has none. As the
// exporter reads them (Go's pkix.Name): the first C, ST, L, O and OU, and the last CN.
struct NameFields {
  std::string c, st, l, o, ou, cn;
};

struct ExporterNames {
  std::string serial_decimal;  // the serial number in decimal, "-" first when negative
  NameFields subject, issuer;
};

// The labels of a parsed certificate. Thread-safe; leaves OpenSSL's error queue empty.
ExporterNames ExporterNamesOf(const X509* cert);

// The labels of a DER certificate; std::nullopt when `der` is not exactly one certificate.
std::optional<ExporterNames> ReadExporterNames(std::string_view der);

}  // namespace certinbox::pipeline
