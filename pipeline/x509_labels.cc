#include "pipeline/x509_labels.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <memory>

#include "pipeline/ossl.h"

namespace certinbox::pipeline {
namespace {

using LabelBignumPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;

std::string EntryText(const X509_NAME* name, int index) {
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
  if (len < 0) return {};
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::string FirstOf(const X509_NAME* name, int nid) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  return index < 0 ? std::string() : EntryText(name, index);
}

std::string LastOf(const X509_NAME* name, int nid) {
  int last = -1;
  for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, nid, i)) {
    last = i;
  }
  return last < 0 ? std::string() : EntryText(name, last);
}

NameFields FieldsOf(const X509_NAME* name) {
  if (name == nullptr) return {};
  return NameFields{.c = FirstOf(name, NID_countryName),
                    .st = FirstOf(name, NID_stateOrProvinceName),
                    .l = FirstOf(name, NID_localityName),
                    .o = FirstOf(name, NID_organizationName),
                    .ou = FirstOf(name, NID_organizationalUnitName),
                    .cn = LastOf(name, NID_commonName)};
}

std::string SerialDecimal(const ASN1_INTEGER* serial) {
  LabelBignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return {};
  char* text = BN_bn2dec(bn.get());
  std::string out = text != nullptr ? text : "";
  OPENSSL_free(text);
  return out;
}

}  // namespace

ExporterNames ExporterNamesOf(const X509* cert) {
  ExporterNames names{.serial_decimal = SerialDecimal(X509_get0_serialNumber(cert)),
                      .subject = FieldsOf(X509_get_subject_name(cert)),
                      .issuer = FieldsOf(X509_get_issuer_name(cert))};
  ERR_clear_error();
  return names;
}

std::optional<ExporterNames> ReadExporterNames(std::string_view der) {
  X509Ptr cert = DecodeWholeAs<X509Ptr>(der, d2i_X509);
  if (!cert) return std::nullopt;
  return ExporterNamesOf(cert.get());
}

}  // namespace certinbox::pipeline
