// The name fields and serial of a certificate as x509-certificate-exporter labels them
// (its `subject_C` ... `issuer_CN` and `serial_number`), read from the DER with OpenSSL.
#pragma once

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

// std::nullopt when `der` is not exactly one certificate. Thread-safe; leaves OpenSSL's error
// queue empty.
std::optional<ExporterNames> ReadExporterNames(std::string_view der);

}  // namespace certinbox::pipeline
