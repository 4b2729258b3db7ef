#include "pipeline/parse.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/text.h"
#include "pipeline/budget.h"
#include "pipeline/collector.h"
#include "pipeline/containers.h"
#include "pipeline/keys.h"
#include "pipeline/pem.h"

// What a file with nothing usable gets: a PEM file whose blocks are all of kinds certinbox
// does not import (PUBLIC KEY, X509 CRL, DH PARAMETERS, ...) and a PKCS#7/PKCS#12 that holds
// no certificate or key fail with unsupported_object: the format was understood, its content
// is not inventory. Bytes that are neither PEM nor any DER structure below fail with
// unrecognized_format.

namespace certinbox::pipeline {
namespace {

// The unsupported_object sentence names at most this many kinds of PEM block, each cut short
// to kMaxLabelEcho.
constexpr size_t kMaxNamedKinds = 5;

using X509PubkeyPtr = std::unique_ptr<X509_PUBKEY, Free<X509_PUBKEY_free>>;

// --- PEM ---------------------------------------------------------------------------------

enum class PemKind {
  kCertificate,
  kTrustedCertificate,
  kPkcs8Key,
  kPkcs1Key,
  kSec1Key,
  kEncryptedKey,
  kRequest,
  kPkcs7,
  kOther,
};

PemKind KindOf(std::string_view label) {
  if (label == "CERTIFICATE" || label == "X509 CERTIFICATE") return PemKind::kCertificate;
  if (label == "TRUSTED CERTIFICATE") return PemKind::kTrustedCertificate;
  if (label == "PRIVATE KEY") return PemKind::kPkcs8Key;
  if (label == "RSA PRIVATE KEY") return PemKind::kPkcs1Key;
  if (label == "EC PRIVATE KEY") return PemKind::kSec1Key;
  if (label == "ENCRYPTED PRIVATE KEY") return PemKind::kEncryptedKey;
  if (label == "CERTIFICATE REQUEST" || label == "NEW CERTIFICATE REQUEST") {
    return PemKind::kRequest;
  }
  if (label == "PKCS7" || label == "PKCS #7 SIGNED DATA") return PemKind::kPkcs7;
  return PemKind::kOther;
}

std::unexpected<base::Error> BadBase64(std::string_view where) {
  return base::Fail(base::code::kMalformedPem,
                    std::string(where) +
                        " is corrupt: its base64 text has characters that do not "
                        "belong there or is cut short");
}

class PemReader {
 public:
  explicit PemReader(Collector& out) : out_(out) {}

  Status Read(const PemBlock& block, std::string_view where) {
    switch (KindOf(block.label)) {
      case PemKind::kCertificate: {
        std::string der;
        if (!DecodeBase64(block.body, der)) return BadBase64(where);
        return out_.AddCertificateDer(std::move(der), where);
      }
      case PemKind::kTrustedCertificate:
        return ReadTrustedCertificate(block, where);
      case PemKind::kPkcs8Key:
        return ReadKey(block, KeyStructure::kPkcs8, where);
      case PemKind::kPkcs1Key:
        return ReadKey(block, KeyStructure::kPkcs1, where);
      case PemKind::kSec1Key:
        return ReadKey(block, KeyStructure::kSec1, where);
      case PemKind::kEncryptedKey: {
        SecretBytes der;
        if (!DecodeBase64(block.body, der)) return BadBase64(where);
        auto plain = DecryptPkcs8(der.view(), out_.options().passwords, out_.budget());
        if (!plain)
          return base::Fail(plain.error().code, std::string(where) + ": " + plain.error().message);
        return out_.AddPkcs8Der(std::move(*plain), where);
      }
      case PemKind::kRequest: {
        std::string der;
        if (!DecodeBase64(block.body, der)) return BadBase64(where);
        return out_.AddRequestDer(der, where);
      }
      case PemKind::kPkcs7: {
        std::string der;
        if (!DecodeBase64(block.body, der)) return BadBase64(where);
        auto p7 = DecodeWholeAs<Pkcs7Ptr>(der, d2i_PKCS7);
        if (!p7)
          return base::Fail(base::code::kPkcs7Malformed,
                            std::string(where) + " is not a valid PKCS#7");
        return ReadPkcs7(p7.get(), where, out_);
      }
      case PemKind::kOther:
        break;
    }
    return {};
  }

 private:
  Status ReadTrustedCertificate(const PemBlock& block, std::string_view where) {
    std::string der;
    if (!DecodeBase64(block.body, der)) return BadBase64(where);
    // X509_AUX: the certificate followed by OpenSSL's trust settings, which certinbox drops.
    auto cert = DecodeWholeAs<X509Ptr>(der, d2i_X509_AUX);
    if (!cert) {
      return base::Fail(base::code::kBadCertificate,
                        std::string(where) + " is not a valid certificate");
    }
    return out_.AddCertificate(std::move(cert), std::string(), where);
  }

  Status ReadKey(const PemBlock& block, KeyStructure structure, std::string_view where) {
    if (block.encrypted) {  // "Proc-Type: 4,ENCRYPTED": OpenSSL's legacy PEM encryption
      auto key = DecryptLegacyPemKey(block.text, out_.options().passwords, out_.budget());
      if (!key)
        return base::Fail(key.error().code, std::string(where) + ": " + key.error().message);
      return out_.AddKey(std::move(*key), SecretBytes(), where);
    }
    SecretBytes der;
    if (!DecodeBase64(block.body, der)) return BadBase64(where);
    bool whole_pkcs8 = false;
    EvpPkeyPtr key = DecodePrivateKeyDer(der.view(), structure, &whole_pkcs8);
    if (!key)
      return base::Fail(base::code::kBadKey, std::string(where) + " is not a valid private key");
    // PKCS#8 input is kept as it came (it is what the vault stores); others are re-encoded.
    bool keep = structure == KeyStructure::kPkcs8 && whole_pkcs8;
    return out_.AddKey(std::move(key), keep ? std::move(der) : SecretBytes(), where);
  }

  Collector& out_;
};

base::Result<ParsedFile> ParsePem(std::string_view bytes, const ParseOptions& options,
                                  ParseBudget& budget) {
  auto blocks = ScanPem(bytes);
  if (!blocks) return std::unexpected(blocks.error());
  if (blocks->empty()) {
    return base::Fail(base::code::kUnrecognizedFormat,
                      "the file has a \"-----BEGIN \" marker but no complete PEM block");
  }
  Collector out(options, budget);
  size_t known = std::count_if(blocks->begin(), blocks->end(), [](const PemBlock& b) {
    return KindOf(b.label) != PemKind::kOther;
  });
  if (auto ok = out.Reserve(known); !ok) return std::unexpected(ok.error());

  PemReader reader(out);
  std::vector<std::string_view> ignored;  // the first kMaxNamedKinds kinds
  bool more_kinds = false;
  for (size_t i = 0; i < blocks->size(); ++i) {
    if (auto ok = out.budget().Check(); !ok) return std::unexpected(ok.error());
    const PemBlock& block = (*blocks)[i];
    if (KindOf(block.label) == PemKind::kOther) {
      if (std::find(ignored.begin(), ignored.end(), block.label) == ignored.end()) {
        if (ignored.size() < kMaxNamedKinds) {
          ignored.push_back(block.label);
        } else {
          more_kinds = true;
        }
      }
      continue;
    }
    // A known label: one of KindOf's, so short and printable.
    std::string where =
        "PEM block " + std::to_string(i + 1) + " (" + std::string(block.label) + ")";
    if (auto ok = reader.Read(block, where); !ok) return std::unexpected(ok.error());
  }
  if (out.empty()) {
    std::string kinds;
    for (std::string_view label : ignored) {
      kinds += (kinds.empty() ? "" : ", ") +
               base::Escape(base::Shorten(std::string(label), kMaxLabelEcho));
    }
    if (more_kinds) kinds += " and other";
    return base::Fail(base::code::kUnsupportedObject,
                      "the file holds only " + kinds +
                          " blocks, which certinbox does not import: drop certificates, private "
                          "keys, certificate requests, PKCS#7 or PKCS#12 files");
  }
  return out.Take("pem");
}

// --- DER ---------------------------------------------------------------------------------

// Reads a DER tag and length at `pos`; false when they do not fit. The length may point past
// the end of a truncated file: shapes are judged from headers only.
bool ReadHeader(std::string_view der, size_t& pos, unsigned char& tag) {
  if (pos + 2 > der.size()) return false;
  tag = static_cast<unsigned char>(der[pos++]);
  unsigned char len = static_cast<unsigned char>(der[pos++]);
  if (len & 0x80) {
    size_t n = len & 0x7f;
    if (n == 0 || n > 4 || pos + n > der.size()) return false;
    pos += n;
  }
  return true;
}

// The first tags of `der`, walking into constructed SEQUENCEs: enough to tell a damaged
// certificate from a damaged PKCS#12 for the reason code.
std::string Shape(std::string_view der, int depth) {
  std::string tags;
  size_t pos = 0;
  unsigned char tag = 0;
  for (int i = 0; i < depth && ReadHeader(der, pos, tag); ++i) {
    tags.push_back(static_cast<char>(tag));
    if (tag != 0x30) break;  // only SEQUENCEs are entered; the next header is the content's
  }
  if (tag == 0x02 && pos < der.size()) tags.push_back(der[pos]);  // a small INTEGER's value
  return tags;
}

base::Error DamagedDer(std::string_view der) {
  std::string shape = Shape(der, 3);
  std::string_view s = shape;
  if (s.starts_with("\x30\x30\xa0")) {
    return {base::code::kBadCertificate,
            "the file looks like a DER certificate but cannot be decoded (truncated or corrupt)"};
  }
  if (s == std::string_view("\x30\x02\x03", 3)) {
    return {base::code::kPkcs12Malformed,
            "the file looks like a PKCS#12 (.pfx/.p12) but cannot be decoded (truncated or "
            "corrupt)"};
  }
  if (s.starts_with("\x30\x06")) {
    return {base::code::kPkcs7Malformed,
            "the file looks like a PKCS#7 but cannot be decoded (truncated or corrupt)"};
  }
  if (s == std::string_view("\x30\x02\x00", 3) || s == std::string_view("\x30\x02\x01", 3) ||
      s == std::string_view("\x30\x30\x06", 3)) {
    return {base::code::kBadKey,
            "the file looks like a DER private key but cannot be decoded (truncated or corrupt)"};
  }
  if (s.starts_with(std::string_view("\x30\x30\x02", 3))) {
    return {base::code::kBadCsr,
            "the file looks like a DER certificate request but cannot be decoded (truncated or "
            "corrupt)"};
  }
  return {base::code::kUnrecognizedFormat,
          "the file is neither PEM nor a DER certificate, private key, certificate request, "
          "PKCS#7 or PKCS#12"};
}

base::Result<ParsedFile> ParseDer(std::string_view der, const ParseOptions& options,
                                  ParseBudget& budget) {
  Collector out(options, budget);
  auto done = [&](Status ok, const char* format) -> base::Result<ParsedFile> {
    if (!ok) return std::unexpected(ok.error());
    if (out.empty()) {
      return base::Fail(base::code::kUnsupportedObject,
                        std::string("the ") + format +
                            " file holds no certificate, private key or certificate request");
    }
    return out.Take(format);
  };

  if (auto cert = DecodeWholeAs<X509Ptr>(der, d2i_X509)) {
    return done(out.AddCertificate(std::move(cert), std::string(der), "the DER certificate"),
                "der");
  }
  if (auto p12 = DecodeWholeAs<Pkcs12Ptr>(der, d2i_PKCS12)) {
    return done(ReadPkcs12(p12.get(), out), "pkcs12");
  }
  if (auto p7 = DecodeWholeAs<Pkcs7Ptr>(der, d2i_PKCS7)) {
    return done(ReadPkcs7(p7.get(), "the PKCS#7 file", out), "pkcs7");
  }
  for (KeyStructure structure : {KeyStructure::kPkcs8, KeyStructure::kPkcs1, KeyStructure::kSec1}) {
    bool whole_pkcs8 = false;
    if (EvpPkeyPtr key = DecodePrivateKeyDer(der, structure, &whole_pkcs8)) {
      bool keep = structure == KeyStructure::kPkcs8 && whole_pkcs8;
      SecretBytes pkcs8 = keep ? SecretBytes(der) : SecretBytes();
      return done(out.AddKey(std::move(key), std::move(pkcs8), "the DER private key"), "der");
    }
  }
  if (IsEncryptedPkcs8(der)) {
    auto plain = DecryptPkcs8(der, options.passwords, budget);
    if (!plain) return std::unexpected(plain.error());
    return done(out.AddPkcs8Der(std::move(*plain), "the encrypted DER private key"), "der");
  }
  if (auto req = DecodeWholeAs<X509ReqPtr>(der, d2i_X509_REQ)) {
    return done(out.AddRequest(std::move(req), der, "the DER certificate request"), "der");
  }
  // Well-formed DER of kinds certinbox does not import get the reason their PEM forms get.
  if (DecodeWholeAs<X509CrlPtr>(der, d2i_X509_CRL)) {
    return base::Fail(
        base::code::kUnsupportedObject,
        "the file is a DER certificate revocation list (CRL), which certinbox does not "
        "import: drop certificates, private keys, PKCS#7 or PKCS#12 files");
  }
  if (DecodeWholeAs<X509PubkeyPtr>(der, d2i_X509_PUBKEY)) {
    return base::Fail(
        base::code::kUnsupportedObject,
        "the file is a DER public key (SubjectPublicKeyInfo), which certinbox does not "
        "import: drop the certificate, or the private key");
  }
  return std::unexpected(DamagedDer(der));
}

bool IsBlank(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
  });
}

}  // namespace

base::Result<ParsedFile> ParseFile(std::string_view bytes, const ParseOptions& options) {
  LoadOpensslProviders();
  ERR_clear_error();  // nothing from an earlier caller on this thread may leak into sentences
  if (IsBlank(bytes)) return base::Fail(base::code::kEmptyFile, "the file is empty");
  ParseBudget budget(options);
  base::Result<ParsedFile> result;
  if (LooksLikePem(bytes)) {
    result = ParsePem(bytes, options, budget);
  } else if (static_cast<unsigned char>(bytes[0]) == 0x30) {  // DER: a SEQUENCE
    result = ParseDer(bytes, options, budget);
  } else {
    result =
        base::Fail(base::code::kUnrecognizedFormat,
                   "the file is neither PEM (no \"-----BEGIN\" line) nor DER: certinbox imports "
                   "certificates, private keys, certificate requests, PKCS#7 and PKCS#12");
  }
  ERR_clear_error();
  return result;
}

}  // namespace certinbox::pipeline
