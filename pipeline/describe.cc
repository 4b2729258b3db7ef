#include "pipeline/describe.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include <cctype>
#include <chrono>
#include <ctime>

#include "base/hex.h"
#include "base/time.h"
#include "pipeline/error.h"
#include "pipeline/parse.h"

namespace certinbox::pipeline {
namespace {

using BignumPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;

std::string Utf8(const ASN1_STRING* s) {
  unsigned char* out = nullptr;
  int len = ASN1_STRING_to_UTF8(&out, s);
  if (len < 0) {
    DrainOpensslErrors();
    return {};
  }
  std::string text(reinterpret_cast<char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return text;
}

std::string Ia5(const ASN1_IA5STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

std::string IpText(const ASN1_OCTET_STRING* ip) {
  char text[INET6_ADDRSTRLEN] = {};
  const unsigned char* bytes = ASN1_STRING_get0_data(ip);
  int len = ASN1_STRING_length(ip);
  if (len == 4 && inet_ntop(AF_INET, bytes, text, sizeof text) != nullptr) return text;
  if (len == 16 && inet_ntop(AF_INET6, bytes, text, sizeof text) != nullptr) return text;
  return "#" + base::HexLower(bytes, static_cast<size_t>(len));  // not an address: show the bytes
}

base::UnixTime ToUnix(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    DrainOpensslErrors();
    return 0;
  }
  using namespace std::chrono;
  sys_days day = year{tm.tm_year + 1900} / month{static_cast<unsigned>(tm.tm_mon + 1)} /
                 std::chrono::day{static_cast<unsigned>(tm.tm_mday)};
  return day.time_since_epoch().count() * 86400LL + tm.tm_hour * 3600LL + tm.tm_min * 60LL +
         tm.tm_sec;
}

std::string SerialHex(const ASN1_INTEGER* serial) {
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) {
    DrainOpensslErrors();
    return {};
  }
  char* hex = BN_bn2hex(bn.get());  // upper case
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  return out;
}

std::string FirstCommonName(const X509_NAME* name) {
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return {};
  return Utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, ThreadSha256(), nullptr) != 1) {
    DrainOpensslErrors();
    return {};
  }
  return base::HexLower(md, len);
}

std::string NameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    DrainOpensslErrors();
    return {};
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::vector<std::string> DescribeGeneralNames(const GENERAL_NAMES* names) {
  std::vector<std::string> out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    switch (name->type) {
      case GEN_DNS:
        out.push_back("DNS:" + Ia5(name->d.dNSName));
        break;
      case GEN_IPADD:
        out.push_back("IP:" + IpText(name->d.iPAddress));
        break;
      case GEN_URI:
        out.push_back("URI:" + Ia5(name->d.uniformResourceIdentifier));
        break;
      case GEN_EMAIL:
        out.push_back("email:" + Ia5(name->d.rfc822Name));
        break;
      default:
        break;  // directory names, otherName, RID: not inventory data
    }
  }
  return out;
}

std::string KeyAlgorithmName(const EVP_PKEY* key) {
  static constexpr const char* kKnown[] = {"RSA", "RSA-PSS", "EC",   "ED25519", "ED448",
                                           "DSA", "X25519",  "X448", "SM2",     "DH"};
  if (key == nullptr) return "UNKNOWN";
  for (const char* name : kKnown) {
    if (EVP_PKEY_is_a(key, name)) return name;
  }
  const char* type = EVP_PKEY_get0_type_name(key);
  if (type == nullptr) return "UNKNOWN";
  std::string out = type;
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string DisplayName(const CertificateInfo& info) {
  if (!info.subject_cn.empty()) return "\"" + info.subject_cn + "\"";
  return "\"" + info.subject + "\"";
}

CertificateInfo DescribeCertificate(X509* cert, std::string_view der) {
  return DescribeCertificateWithSha256(cert, Sha256Hex(der));
}

CertificateInfo DescribeCertificateWithSha256(X509* cert, std::string fingerprint_sha256) {
  CertificateInfo info;
  info.fingerprint_sha256 = std::move(fingerprint_sha256);
  unsigned char* spki = nullptr;
  int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
  if (spki_len > 0) {
    info.spki_sha256 = Sha256Hex({reinterpret_cast<char*>(spki), static_cast<size_t>(spki_len)});
    OPENSSL_free(spki);
  }
  info.serial = SerialHex(X509_get0_serialNumber(cert));
  const X509_NAME* subject = X509_get_subject_name(cert);
  const X509_NAME* issuer = X509_get_issuer_name(cert);
  info.subject = NameToString(subject);
  info.issuer = NameToString(issuer);
  info.subject_cn = FirstCommonName(subject);
  GeneralNamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (sans) info.sans = DescribeGeneralNames(sans.get());
  info.not_before = ToUnix(X509_get0_notBefore(cert));
  info.not_after = ToUnix(X509_get0_notAfter(cert));
  const EVP_PKEY* key = X509_get0_pubkey(cert);
  info.key_algorithm = KeyAlgorithmName(key);
  info.key_bits = key != nullptr ? EVP_PKEY_get_bits(key) : 0;
  const char* sig_name = OBJ_nid2ln(X509_get_signature_nid(cert));
  info.signature_algorithm = sig_name != nullptr ? sig_name : "UNKNOWN";
  info.is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
  info.self_issued = X509_NAME_cmp(subject, issuer) == 0;
  info.exporter = ExporterNamesOf(cert);
  DrainOpensslErrors();  // a key or extension OpenSSL could not decode leaves entries behind
  return info;
}

CertificateInfo DescribeCertificate(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0) {
    DrainOpensslErrors();
    return {};
  }
  CertificateInfo info =
      DescribeCertificate(cert, {reinterpret_cast<char*>(der), static_cast<size_t>(len)});
  OPENSSL_free(der);
  return info;
}

}  // namespace certinbox::pipeline
