#include "pipeline/containers.h"

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "base/error.h"
#include "base/error_codes.h"

namespace certinbox::pipeline {
namespace {

struct Pkcs7StackFree {
  void operator()(STACK_OF(PKCS7) * s) const { sk_PKCS7_pop_free(s, PKCS7_free); }
};
struct SafeBagStackFree {
  void operator()(STACK_OF(PKCS12_SAFEBAG) * s) const {
    sk_PKCS12_SAFEBAG_pop_free(s, PKCS12_SAFEBAG_free);
  }
};
using AuthSafesPtr = std::unique_ptr<STACK_OF(PKCS7), Pkcs7StackFree>;
using SafeBagsPtr = std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), SafeBagStackFree>;

// A PKCS#12 password: the empty password ("" -> two zero bytes in BMPString) and the absent
// one (NULL -> no bytes) derive different keys, so both are tried.
struct P12Password {
  const char* data;
  int len;
};

std::vector<P12Password> Pkcs12PasswordCandidates(const std::vector<SecretBytes>& passwords) {
  std::vector<P12Password> out;
  for (const SecretBytes& p : passwords) {
    if (!p.empty()) {
      out.push_back({reinterpret_cast<const char*>(p.data()), static_cast<int>(p.size())});
    }
  }
  out.push_back({"", 0});
  out.push_back({nullptr, 0});
  return out;
}

constexpr int kMaxNesting = 8;  // safeContentsBag inside safeContentsBag: bounded

// The key derivation of an encrypted safe (EncryptedData), or null.
const X509_ALGOR* SafeAlgorithm(const PKCS7* p7) {
  if (p7->d.encrypted == nullptr || p7->d.encrypted->enc_data == nullptr) return nullptr;
  return p7->d.encrypted->enc_data->algorithm;
}

// The key derivation of a shrouded key bag, or null.
const X509_ALGOR* ShroudedKeyAlgorithm(const PKCS12_SAFEBAG* bag) {
  const X509_SIG* sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
  if (sig == nullptr) return nullptr;
  const X509_ALGOR* algorithm = nullptr;
  X509_SIG_get0(sig, &algorithm, nullptr);
  return algorithm;
}

constexpr std::string_view kSafeWhat = "a certificate container of the PKCS#12 file";
constexpr std::string_view kKeyWhat = "the private key of the PKCS#12 file";

Status AdmitBags(const STACK_OF(PKCS12_SAFEBAG) * bags, int depth, const ParseBudget& budget) {
  if (bags == nullptr || depth > kMaxNesting) return {};  // the reader names that failure
  for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags); ++i) {
    const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags, i);
    switch (PKCS12_SAFEBAG_get_nid(bag)) {
      case NID_pkcs8ShroudedKeyBag:
        if (auto ok = budget.Admit(ShroudedKeyAlgorithm(bag), kKeyWhat); !ok) return ok;
        break;
      case NID_safeContentsBag:
        if (auto ok = AdmitBags(PKCS12_SAFEBAG_get0_safes(bag), depth + 1, budget); !ok) return ok;
        break;
      default:
        break;
    }
  }
  return {};
}

// Every key derivation the file shows without a password (its MAC, its encrypted safes, the
// shrouded keys of its plain safes) against the caps, before any is run: an over-cap file is
// refused at once, whatever the passwords. Bags inside encrypted safes are judged when they are
// reached, before their own derivation.
Status AdmitPkcs12(PKCS12* p12, const ParseBudget& budget) {
  if (PKCS12_mac_present(p12)) {
    if (auto ok = budget.AdmitMac(p12); !ok) return ok;
  }
  AuthSafesPtr safes(PKCS12_unpack_authsafes(p12));
  ERR_clear_error();
  if (!safes) return {};  // the reader names that failure
  for (int i = 0; i < sk_PKCS7_num(safes.get()); ++i) {
    PKCS7* p7 = sk_PKCS7_value(safes.get(), i);
    if (auto ok = budget.Check(); !ok) return ok;
    switch (OBJ_obj2nid(p7->type)) {
      case NID_pkcs7_encrypted:
        if (auto ok = budget.Admit(SafeAlgorithm(p7), kSafeWhat); !ok) return ok;
        break;
      case NID_pkcs7_data: {
        SafeBagsPtr bags(PKCS12_unpack_p7data(p7));
        ERR_clear_error();
        if (auto ok = AdmitBags(bags.get(), 0, budget); !ok) return ok;
        break;
      }
      default:
        break;
    }
  }
  return {};
}

class Pkcs12Reader {
 public:
  Pkcs12Reader(P12Password password, Collector& out) : password_(password), out_(out) {}

  Status ReadAll(PKCS12* p12) {
    AuthSafesPtr safes(PKCS12_unpack_authsafes(p12));
    if (!safes) return Malformed("its contents cannot be read");
    for (int i = 0; i < sk_PKCS7_num(safes.get()); ++i) {
      PKCS7* p7 = sk_PKCS7_value(safes.get(), i);
      SafeBagsPtr bags;
      switch (OBJ_obj2nid(p7->type)) {
        case NID_pkcs7_data:
          bags.reset(PKCS12_unpack_p7data(p7));
          break;
        case NID_pkcs7_encrypted:
          if (auto ok = out_.budget().Charge(SafeAlgorithm(p7), kSafeWhat); !ok) return ok;
          bags.reset(PKCS12_unpack_p7encdata(p7, password_.data, password_.len));
          break;
        default:
          continue;  // enveloped (public-key protected) safes: not supported, skipped
      }
      if (!bags) return Malformed("a certificate container cannot be decrypted or decoded");
      if (auto ok = ReadBags(bags.get(), 0); !ok) return ok;
    }
    return {};
  }

 private:
  Status ReadBags(const STACK_OF(PKCS12_SAFEBAG) * bags, int depth) {
    if (depth > kMaxNesting) return Malformed("its bags are nested too deeply");
    if (auto ok = out_.Reserve(static_cast<size_t>(sk_PKCS12_SAFEBAG_num(bags))); !ok) return ok;
    for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags); ++i) {
      const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags, i);
      Status ok;
      switch (PKCS12_SAFEBAG_get_nid(bag)) {
        case NID_keyBag:
          ok = ReadKey(PKCS12_SAFEBAG_get0_p8inf(bag));
          break;
        case NID_pkcs8ShroudedKeyBag: {
          if (auto ok = out_.budget().Charge(ShroudedKeyAlgorithm(bag), kKeyWhat); !ok) return ok;
          Pkcs8InfoPtr info(PKCS12_decrypt_skey(bag, password_.data, password_.len));
          if (!info) return Malformed("its private key cannot be decrypted");
          ok = ReadKey(info.get());
          break;
        }
        case NID_certBag:
          ok = ReadCertificate(bag);
          break;
        case NID_safeContentsBag:
          ok = ReadBags(PKCS12_SAFEBAG_get0_safes(bag), depth + 1);
          break;
        default:
          break;  // CRL and secret bags: not inventory objects
      }
      if (!ok) return ok;
    }
    return {};
  }

  Status ReadKey(const PKCS8_PRIV_KEY_INFO* info) {
    if (info == nullptr) return Malformed("a key bag is empty");
    unsigned char* der = nullptr;
    int len = i2d_PKCS8_PRIV_KEY_INFO(info, &der);
    if (len <= 0) return Malformed("a private key cannot be encoded");
    SecretBytes pkcs8(std::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(len)));
    OPENSSL_clear_free(der, static_cast<size_t>(len));
    return out_.AddPkcs8Der(std::move(pkcs8), "the private key of the PKCS#12 file");
  }

  Status ReadCertificate(const PKCS12_SAFEBAG* bag) {
    if (PKCS12_SAFEBAG_get_bag_nid(bag) != NID_x509Certificate) return {};  // SDSI certs
    if (auto ok = out_.Reserve(1); !ok) return ok;
    X509Ptr cert(PKCS12_SAFEBAG_get1_cert(bag));
    if (!cert) {
      return base::Fail(
          base::code::kBadCertificate,
          "a certificate of the PKCS#12 file cannot be decoded: " + DrainOpensslErrors());
    }
    return out_.AddCertificate(std::move(cert), std::string(), "a certificate of the PKCS#12 file");
  }

  static std::unexpected<base::Error> Malformed(const std::string& what) {
    std::string detail = DrainOpensslErrors();
    if (!LoadOpensslProviders() && detail.find("unsupported") != std::string::npos) {
      return base::Fail(base::code::kUnsupportedObject,
                        "the PKCS#12 file uses old encryption (RC2 or 3DES, as in Windows and Java "
                        "exports) and OpenSSL's legacy provider is not installed on this host: "
                        "re-export it with AES, or install the provider (" +
                            detail + ")");
    }
    return base::Fail(base::code::kPkcs12Malformed, "the PKCS#12 file opened, but " + what +
                                                        (detail.empty() ? "" : ": " + detail));
  }

  P12Password password_;
  Collector& out_;
};

Status ReadWith(PKCS12* p12, P12Password password, Collector& out) {
  Collector attempt(out.options(), out.budget());
  if (auto ok = Pkcs12Reader(password, attempt).ReadAll(p12); !ok) return ok;
  return out.Append(std::move(attempt));
}

base::Error BadPassword(const std::vector<SecretBytes>& passwords) {
  std::string tried = passwords.empty()
                          ? "no password was given and the empty password does not open it"
                          : "none of the " + std::to_string(passwords.size()) +
                                " candidate passwords (nor the empty one) opens it";
  return base::Error{base::code::kPkcs12BadPassword,
                     "the PKCS#12 password is wrong: " + tried +
                         "; give it in the file's sidecar (password or password_file) or the "
                         "inbox's password_file"};
}

}  // namespace

Status ReadPkcs12(PKCS12* p12, Collector& out) {
  LoadOpensslProviders();
  const std::vector<SecretBytes>& passwords = out.options().passwords;
  std::vector<P12Password> candidates = Pkcs12PasswordCandidates(passwords);
  if (auto ok = AdmitPkcs12(p12, out.budget()); !ok) return ok;

  if (PKCS12_mac_present(p12)) {
    // The MAC tells a wrong password from damaged data, and costs one key derivation. A
    // mismatch leaves OpenSSL's error queue empty; an error means the MAC could not be
    // computed at all (unknown digest, damaged parameters): the file, not the password.
    std::string mac_error;
    for (const P12Password& password : candidates) {
      if (auto ok = out.budget().ChargeMac(p12); !ok) return ok;
      if (PKCS12_verify_mac(p12, password.data, password.len) == 1) {
        ERR_clear_error();
        return ReadWith(p12, password, out);
      }
      mac_error = DrainOpensslErrors();
    }
    if (!mac_error.empty()) {  // even the absent password, always valid, failed that way
      return base::Fail(base::code::kPkcs12Malformed,
                        "the PKCS#12 integrity check (MAC) cannot be computed: " + mac_error);
    }
    return std::unexpected(BadPassword(passwords));
  }

  // No MAC: the only test of a password is whether the contents decrypt.
  for (const P12Password& password : candidates) {
    Status ok = ReadWith(p12, password, out);
    if (ok || ok.error().code != base::code::kPkcs12Malformed) return ok;
  }
  ERR_clear_error();
  return std::unexpected(BadPassword(passwords));
}

Status ReadPkcs7(PKCS7* p7, std::string_view where, Collector& out) {
  STACK_OF(X509)* certs = nullptr;
  switch (OBJ_obj2nid(p7->type)) {
    case NID_pkcs7_signed:
      certs = p7->d.sign != nullptr ? p7->d.sign->cert : nullptr;
      break;
    case NID_pkcs7_signedAndEnveloped:
      certs = p7->d.signed_and_enveloped != nullptr ? p7->d.signed_and_enveloped->cert : nullptr;
      break;
    default:
      return base::Fail(base::code::kPkcs7Malformed,
                        std::string(where) + " is not a SignedData bundle of certificates (type " +
                            OBJ_nid2sn(OBJ_obj2nid(p7->type)) + ")");
  }
  int n = certs != nullptr ? sk_X509_num(certs) : 0;
  if (auto ok = out.Reserve(static_cast<size_t>(n)); !ok) return ok;
  for (int i = 0; i < n; ++i) {
    X509* cert = sk_X509_value(certs, i);
    X509_up_ref(cert);
    std::string name = "certificate " + std::to_string(i + 1) + " of " + std::string(where);
    if (auto ok = out.AddCertificate(X509Ptr(cert), std::string(), name); !ok) return ok;
  }
  return {};
}

}  // namespace certinbox::pipeline
