#include "pipeline/csr.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>

#include "base/error.h"
#include "base/error_codes.h"
#include "pipeline/describe.h"
#include "pipeline/export.h"
#include "pipeline/keys.h"

namespace certinbox::pipeline {

namespace {

struct KeyType {
  std::string_view name;
  const char* algorithm;  // EVP_PKEY_Q_keygen's type
  size_t rsa_bits;        // RSA only
  const char* curve;      // EC only
};

constexpr std::array<KeyType, 5> kKeyTypes = {{
    {"rsa-2048", "RSA", 2048, nullptr},
    {"rsa-3072", "RSA", 3072, nullptr},
    {"rsa-4096", "RSA", 4096, nullptr},
    {"ec-p256", "EC", 0, "P-256"},
    {"ec-p384", "EC", 0, "P-384"},
}};

const KeyType* FindKeyType(std::string_view name) {
  for (const KeyType& k : kKeyTypes) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Free<GENERAL_NAME_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, Free<X509_NAME_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION_free>>;

constexpr size_t kMaxField = 64;  // RFC 5280's upper bound for CN, O, OU, L, ST
constexpr size_t kMaxSan = 253;
constexpr size_t kMaxSans = 100;

bool HasControl(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Letters, digits, '-', '.', and '*' (wildcards): what a DNS SAN may hold.
bool IsHostName(std::string_view text) {
  if (text.empty() || text.size() > kMaxSan) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '*' || c == '_';
  });
}

// "DNS:x", "IP:x", "URI:x", "email:x" (type case-insensitive) or a bare DNS name -> typed,
// checked and canonical.
base::Result<std::string> CheckSan(const std::string& san) {
  std::string type = "DNS";
  std::string value = san;
  if (size_t colon = san.find(':'); colon != std::string::npos) {
    std::string prefix = san.substr(0, colon);
    std::string lower = prefix;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "dns" || lower == "ip" || lower == "uri" || lower == "email") {
      type = lower == "dns" ? "DNS" : lower == "ip" ? "IP" : lower == "uri" ? "URI" : "email";
      value = san.substr(colon + 1);
    } else if (san.find("://") == std::string::npos && !prefix.empty()) {
      return base::Fail(base::code::kCsrBadSan,
                        "the SAN \"" + san + "\" has an unknown type \"" + prefix +
                            "\": use DNS:, IP:, URI: or email: (a bare name is DNS)");
    }
  }
  if (value.empty())
    return base::Fail(base::code::kCsrBadSan, "the SAN \"" + san + "\" has no value");
  if (value.size() > kMaxSan || HasControl(value)) {
    return base::Fail(base::code::kCsrBadSan,
                      "the SAN \"" + san + "\" is too long or holds control characters");
  }
  if (type == "DNS") {
    if (!IsHostName(value)) {
      return base::Fail(base::code::kCsrBadSan,
                        "\"" + value +
                            "\" is not a DNS name (letters, digits, '-', '.', '*'): "
                            "for an address write IP:, for a URI write URI:");
    }
    return "DNS:" + value;
  }
  if (type == "IP") {
    unsigned char bytes[16];
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_pton(AF_INET, value.c_str(), bytes) == 1) {
      inet_ntop(AF_INET, bytes, text, sizeof text);
    } else if (inet_pton(AF_INET6, value.c_str(), bytes) == 1) {
      inet_ntop(AF_INET6, bytes, text, sizeof text);
    } else {
      return base::Fail(base::code::kCsrBadSan,
                        "\"" + value + "\" is not an IPv4 or IPv6 address (IP:" + value + ")");
    }
    return std::string("IP:") + text;
  }
  if (type == "URI") {
    size_t scheme = value.find(':');
    if (scheme == std::string::npos || scheme == 0 || value.find(' ') != std::string::npos) {
      return base::Fail(base::code::kCsrBadSan,
                        "\"" + value +
                            "\" is not a URI: it needs a scheme, e.g. "
                            "URI:spiffe://example.org/web or URI:https://a.example/");
    }
    return "URI:" + value;
  }
  size_t at = value.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == value.size() ||
      value.find(' ') != std::string::npos) {
    return base::Fail(base::code::kCsrBadSan,
                      "\"" + value + "\" is not an email address (email:" + value + ")");
  }
  return "email:" + value;
}

base::Result<void> CheckField(const char* what, const std::string& value) {
  if (value.size() > kMaxField || HasControl(value)) {
    return base::Fail(base::code::kCsrBadSubject,
                      std::string("the subject's ") + what +
                          " must be at most 64 characters, without control "
                          "characters");
  }
  return {};
}

base::Result<GeneralNamePtr> MakeGeneralName(const std::string& san) {
  size_t colon = san.find(':');
  std::string type = san.substr(0, colon);
  std::string value = san.substr(colon + 1);
  GeneralNamePtr name(GENERAL_NAME_new());
  if (!name)
    return base::Fail(base::code::kCsrBuildFailed, "GENERAL_NAME_new: " + DrainOpensslErrors());
  if (type == "IP") {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(value.c_str());
    if (ip == nullptr) {
      return base::Fail(base::code::kCsrBadSan,
                        "\"" + value + "\" is not an IP address: " + DrainOpensslErrors());
    }
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip);
    return name;
  }
  ASN1_IA5STRING* text = ASN1_IA5STRING_new();
  if (text == nullptr || ASN1_STRING_set(text, value.data(), static_cast<int>(value.size())) != 1) {
    ASN1_IA5STRING_free(text);
    return base::Fail(base::code::kCsrBuildFailed, "ASN1_STRING_set: " + DrainOpensslErrors());
  }
  int kind = type == "DNS" ? GEN_DNS : type == "URI" ? GEN_URI : GEN_EMAIL;
  GENERAL_NAME_set0_value(name.get(), kind, text);
  return name;
}

base::Result<void> AddNameEntry(X509_NAME* name, const char* field, const std::string& value) {
  if (value.empty()) return {};
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return base::Fail(base::code::kCsrBadSubject, std::string("the subject's ") + field + " \"" +
                                                      value +
                                                      "\" was refused: " + DrainOpensslErrors());
  }
  return {};
}

}  // namespace

bool IsCsrKeyType(std::string_view text) { return FindKeyType(text) != nullptr; }

base::Result<CheckedCsrSpec> CheckCsrSpec(CsrSpec spec) {
  if (spec.key_type.empty()) spec.key_type = "rsa-2048";
  if (!IsCsrKeyType(spec.key_type)) {
    return base::Fail(base::code::kCsrBadKeyType,
                      "unknown key type \"" + spec.key_type +
                          "\": use rsa-2048 (the default), rsa-3072, rsa-4096, "
                          "ec-p256 or ec-p384");
  }
  if (spec.common_name.empty()) {
    return base::Fail(base::code::kCsrBadSubject,
                      "the CN is empty: give the certificate's main name, e.g. "
                      "--cn www.example.com");
  }
  for (auto [what, value] : {std::pair{"CN", &spec.common_name},
                             {"O", &spec.organization},
                             {"OU", &spec.organizational_unit},
                             {"L", &spec.locality},
                             {"ST", &spec.state},
                             {"emailAddress", &spec.email}}) {
    if (auto ok = CheckField(what, *value); !ok) return std::unexpected(ok.error());
  }
  if (!spec.country.empty() &&
      (spec.country.size() != 2 || !std::isalpha(static_cast<unsigned char>(spec.country[0])) ||
       !std::isalpha(static_cast<unsigned char>(spec.country[1])))) {
    return base::Fail(
        base::code::kCsrBadSubject,
        "the country \"" + spec.country + "\" must be a two-letter ISO 3166 code, e.g. DE or US");
  }
  std::transform(spec.country.begin(), spec.country.end(), spec.country.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (!spec.email.empty() && spec.email.find('@') == std::string::npos) {
    return base::Fail(base::code::kCsrBadSubject, "the email \"" + spec.email + "\" has no '@'");
  }
  if (spec.sans.size() > kMaxSans) {
    return base::Fail(base::code::kCsrBadSan, "at most 100 SANs fit in one request");
  }

  CheckedCsrSpec out;
  if (spec.cn_as_san && IsHostName(spec.common_name)) {
    out.sans.push_back("DNS:" + spec.common_name);
  }
  for (const std::string& san : spec.sans) {
    auto checked = CheckSan(san);
    if (!checked) return std::unexpected(checked.error());
    if (std::find(out.sans.begin(), out.sans.end(), *checked) == out.sans.end()) {
      out.sans.push_back(std::move(*checked));
    }
  }
  out.spec = std::move(spec);
  return out;
}

base::Result<GeneratedCsr> GenerateCsr(const CheckedCsrSpec& checked) {
  const CsrSpec& spec = checked.spec;
  const KeyType* type = FindKeyType(spec.key_type);
  if (type == nullptr)
    return base::Fail(base::code::kCsrBadKeyType, "unknown key type \"" + spec.key_type + "\"");

  EvpPkeyPtr pkey(type->curve != nullptr
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, type->algorithm, type->curve)
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, type->algorithm, type->rsa_bits));
  if (!pkey) {
    return base::Fail(base::code::kCsrKeygenFailed, "generating the " + std::string(type->name) +
                                                        " key failed: " + DrainOpensslErrors());
  }

  X509ReqPtr req(X509_REQ_new());
  X509NamePtr name(X509_NAME_new());
  if (!req || !name)
    return base::Fail(base::code::kCsrBuildFailed, "X509_REQ_new: " + DrainOpensslErrors());
  for (auto [field, value] : {std::pair{"C", &spec.country},
                              {"ST", &spec.state},
                              {"L", &spec.locality},
                              {"O", &spec.organization},
                              {"OU", &spec.organizational_unit},
                              {"CN", &spec.common_name},
                              {"emailAddress", &spec.email}}) {
    if (auto ok = AddNameEntry(name.get(), field, *value); !ok) return std::unexpected(ok.error());
  }
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(req.get(), name.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), pkey.get()) != 1) {
    return base::Fail(base::code::kCsrBuildFailed,
                      "setting the request's fields: " + DrainOpensslErrors());
  }
  if (!checked.sans.empty()) {
    GeneralNamesPtr names(GENERAL_NAMES_new());
    if (!names)
      return base::Fail(base::code::kCsrBuildFailed, "GENERAL_NAMES_new: " + DrainOpensslErrors());
    for (const std::string& san : checked.sans) {
      auto general = MakeGeneralName(san);
      if (!general) return std::unexpected(general.error());
      if (sk_GENERAL_NAME_push(names.get(), general->get()) <= 0) {
        return base::Fail(base::code::kCsrBuildFailed,
                          "sk_GENERAL_NAME_push: " + DrainOpensslErrors());
      }
      (void)general->release();  // owned by `names` now
    }
    ExtensionPtr ext(X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get()));
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    bool ok = ext && exts != nullptr && sk_X509_EXTENSION_push(exts, ext.get()) > 0 &&
              X509_REQ_add_extensions(req.get(), exts) == 1;
    sk_X509_EXTENSION_free(exts);  // the extension itself stays owned by `ext`
    if (!ok) {
      return base::Fail(base::code::kCsrBuildFailed,
                        "adding the subjectAltName: " + DrainOpensslErrors());
    }
  }
  if (X509_REQ_sign(req.get(), pkey.get(), EVP_sha256()) <= 0) {
    return base::Fail(base::code::kCsrBuildFailed, "signing the request: " + DrainOpensslErrors());
  }

  GeneratedCsr out;
  unsigned char* buf = nullptr;
  int len = i2d_X509_REQ(req.get(), &buf);
  if (len <= 0)
    return base::Fail(base::code::kCsrBuildFailed, "encoding the request: " + DrainOpensslErrors());
  out.der.assign(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  out.pem = CsrPem(out.der);
  out.subject = NameToString(X509_REQ_get_subject_name(req.get()));
  out.subject_cn = spec.common_name;
  out.sans = checked.sans;
  auto key = MakePrivateKey(std::move(pkey), SecretBytes());
  if (!key) return base::Fail(base::code::kCsrKeygenFailed, key.error().message);
  out.key = std::move(*key);
  return out;
}

std::string CsrPem(std::string_view der) { return PemEncode("CERTIFICATE REQUEST", der); }

}  // namespace certinbox::pipeline
