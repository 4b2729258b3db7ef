#include "tests/testing/test_ca.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <stdexcept>

#include "pipeline/error.h"
#include "tests/testing/openssl_check.h"

namespace certinbox::testing {
namespace {

using pipeline::BioPtr;
using pipeline::EvpPkeyPtr;
using pipeline::X509Ptr;
using pipeline::X509ReqPtr;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, pipeline::Free<X509_EXTENSION_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, pipeline::Free<X509_NAME_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, pipeline::Free<BN_free>>;
using EncoderCtxPtr = std::unique_ptr<OSSL_ENCODER_CTX, pipeline::Free<OSSL_ENCODER_CTX_free>>;

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 24 * kHour;

template <class T>
T* Checked(T* p, std::string_view what) {
  CheckOpenssl(p != nullptr, what);
  return p;
}

BioPtr NewMemBio() { return BioPtr(Checked(BIO_new(BIO_s_mem()), "BIO_new")); }

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

// Serialises `key` with OSSL_ENCODER: format "PEM"/"DER", structure "PrivateKeyInfo",
// "EncryptedPrivateKeyInfo" or "type-specific" (PKCS#1 for RSA, SEC1 for EC).
std::string EncodeKey(EVP_PKEY* key, const char* format, const char* structure,
                      std::optional<std::string_view> password = std::nullopt) {
  EncoderCtxPtr ctx(
      Checked(OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_KEYPAIR, format, structure, nullptr),
              "OSSL_ENCODER_CTX_new_for_pkey"));
  CheckOpenssl(OSSL_ENCODER_CTX_get_num_encoders(ctx.get()) > 0,
               std::string("finding an encoder for ") + structure);
  if (password) {
    CheckOpenssl(OSSL_ENCODER_CTX_set_cipher(ctx.get(), "AES-256-CBC", nullptr) == 1, "set_cipher");
    CheckOpenssl(OSSL_ENCODER_CTX_set_passphrase(
                     ctx.get(), reinterpret_cast<const unsigned char*>(password->data()),
                     password->size()) == 1,
                 "set_passphrase");
  }
  unsigned char* data = nullptr;
  size_t len = 0;
  CheckOpenssl(OSSL_ENCODER_to_data(ctx.get(), &data, &len) == 1, "OSSL_ENCODER_to_data");
  std::string out(reinterpret_cast<char*>(data), len);
  OPENSSL_clear_free(data, len);
  return out;
}

void RequireKeyType(EVP_PKEY* key, const char* type) {
  if (!EVP_PKEY_is_a(key, type)) {
    throw std::runtime_error(std::string("test CA: this encoding needs an ") + type + " key");
  }
}

const EVP_MD* DigestFor(Digest digest, EVP_PKEY* signing_key) {
  if (EVP_PKEY_is_a(signing_key, "ED25519") || EVP_PKEY_is_a(signing_key, "ED448")) {
    return nullptr;  // EdDSA signs without a separate digest
  }
  switch (digest) {
    case Digest::kSha256:
      return EVP_sha256();
    case Digest::kSha384:
      return EVP_sha384();
    case Digest::kSha1:
      return EVP_sha1();
    case Digest::kMd5:
      return EVP_md5();
  }
  return EVP_sha256();
}

pipeline::GeneralNamesPtr MakeGeneralNames(const std::vector<std::string>& sans) {
  pipeline::GeneralNamesPtr names(Checked(sk_GENERAL_NAME_new_null(), "sk_GENERAL_NAME_new_null"));
  for (const std::string& san : sans) {
    size_t colon = san.find(':');
    if (colon == std::string::npos) throw std::runtime_error("test CA: bad SAN " + san);
    std::string kind = san.substr(0, colon);
    std::string value = san.substr(colon + 1);
    GENERAL_NAME* name = Checked(GENERAL_NAME_new(), "GENERAL_NAME_new");
    if (kind == "IP") {
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(value.c_str());
      if (ip == nullptr) {
        GENERAL_NAME_free(name);
        throw std::runtime_error("test CA: bad IP SAN " + value);
      }
      GENERAL_NAME_set0_value(name, GEN_IPADD, ip);
    } else {
      int type = kind == "DNS"     ? GEN_DNS
                 : kind == "URI"   ? GEN_URI
                 : kind == "email" ? GEN_EMAIL
                                   : -1;
      if (type < 0) {
        GENERAL_NAME_free(name);
        throw std::runtime_error("test CA: unknown SAN kind " + kind);
      }
      ASN1_IA5STRING* text = ASN1_IA5STRING_new();
      ASN1_STRING_set(text, value.data(), static_cast<int>(value.size()));
      GENERAL_NAME_set0_value(name, type, text);
    }
    sk_GENERAL_NAME_push(names.get(), name);
  }
  return names;
}

void AddConfExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtensionPtr ext(Checked(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value), OBJ_nid2sn(nid)));
  CheckOpenssl(X509_add_ext(cert, ext.get(), -1) == 1, "X509_add_ext");
}

void SetName(X509_NAME* name, const std::string& cn, const std::string& organization) {
  if (!organization.empty()) {
    CheckOpenssl(
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(organization.data()),
                                   static_cast<int>(organization.size()), -1, 0) == 1,
        "add O");
  }
  CheckOpenssl(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                          reinterpret_cast<const unsigned char*>(cn.data()),
                                          static_cast<int>(cn.size()), -1, 0) == 1,
               "add CN");
}

void SetSerial(X509* cert, std::optional<uint64_t> serial) {
  ASN1_INTEGER* field = X509_get_serialNumber(cert);
  if (serial) {
    CheckOpenssl(ASN1_INTEGER_set_uint64(field, *serial) == 1, "set serial");
    return;
  }
  unsigned char bytes[16];
  CheckOpenssl(RAND_bytes(bytes, sizeof bytes) == 1, "RAND_bytes");
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);  // positive, 16 bytes long
  BignumPtr bn(Checked(BN_bin2bn(bytes, sizeof bytes, nullptr), "BN_bin2bn"));
  CheckOpenssl(BN_to_ASN1_INTEGER(bn.get(), field) != nullptr, "BN_to_ASN1_INTEGER");
}

void AddCertExtensions(X509* cert, const CertSpec& spec, X509* issuer_cert) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert, cert, nullptr, nullptr, 0);
  if (spec.is_ca) {
    std::string bc = "critical,CA:TRUE";
    if (spec.path_length) bc += ",pathlen:" + std::to_string(*spec.path_length);
    AddConfExtension(cert, &ctx, NID_basic_constraints, bc.c_str());
    AddConfExtension(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddConfExtension(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE");
    AddConfExtension(cert, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    AddConfExtension(cert, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  if (spec.key_ids) {
    // The subject key id first: a self-signed certificate's authority key id refers to it.
    AddConfExtension(cert, &ctx, NID_subject_key_identifier, "hash");
    AddConfExtension(cert, &ctx, NID_authority_key_identifier, "keyid:always");
  }
  if (!spec.sans.empty()) {
    pipeline::GeneralNamesPtr names = MakeGeneralNames(spec.sans);
    CheckOpenssl(
        X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1,
        "add subjectAltName");
  }
}

std::string Hex(const unsigned char* data, size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

STACK_OF(X509) * NewCertStack(const CertList& certs) {
  STACK_OF(X509)* stack = Checked(sk_X509_new_null(), "sk_X509_new_null");
  for (const Issued* issued : certs) sk_X509_push(stack, issued->cert.get());
  return stack;
}

struct CertStackDeleter {  // the stack borrows its certificates
  void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using BorrowedCertStack = std::unique_ptr<STACK_OF(X509), CertStackDeleter>;

using Pkcs7Ptr = pipeline::Pkcs7Ptr;

Pkcs7Ptr MakePkcs7(const CertList& certs) {
  Pkcs7Ptr p7(Checked(PKCS7_new(), "PKCS7_new"));
  CheckOpenssl(PKCS7_set_type(p7.get(), NID_pkcs7_signed) == 1, "PKCS7_set_type");
  CheckOpenssl(PKCS7_content_new(p7.get(), NID_pkcs7_data) == 1, "PKCS7_content_new");
  PKCS7_set_detached(p7.get(), 1);  // certs-only: no content, like crl2pkcs7
  for (const Issued* issued : certs) {
    CheckOpenssl(PKCS7_add_certificate(p7.get(), issued->cert.get()) == 1, "PKCS7_add_certificate");
  }
  return p7;
}

}  // namespace

EvpPkeyPtr MakeKey(KeyType type) {
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::kEcP256:
      key = EVP_EC_gen("P-256");
      break;
    case KeyType::kEcP384:
      key = EVP_EC_gen("P-384");
      break;
    case KeyType::kRsa2048:
      key = EVP_RSA_gen(2048);
      break;
    case KeyType::kRsa1024:
      key = EVP_RSA_gen(1024);
      break;
    case KeyType::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  return EvpPkeyPtr(Checked(key, "key generation"));
}

CertSpec LeafSpec(std::string cn) {
  CertSpec spec;
  spec.sans = {"DNS:" + cn};
  spec.cn = std::move(cn);
  return spec;
}

CertSpec CaSpec(std::string cn) {
  CertSpec spec;
  spec.cn = std::move(cn);
  spec.organization = "certinbox tests";
  spec.is_ca = true;
  spec.not_after = NowUnix() + 3650 * kDay;
  return spec;
}

Issued::Issued(const Issued& other) { *this = other; }

Issued& Issued::operator=(const Issued& other) {
  if (this == &other) return *this;
  if (other.cert) X509_up_ref(other.cert.get());
  if (other.key) EVP_PKEY_up_ref(other.key.get());
  cert.reset(other.cert.get());
  key.reset(other.key.get());
  return *this;
}

std::string Issued::CertPem() const { return testing::CertPem(cert.get()); }
std::string Issued::CertDer() const { return testing::CertDer(cert.get()); }
std::string Issued::KeyPem() const { return KeyPkcs8Pem(key.get()); }
std::string Issued::Fingerprint() const { return Sha256Fingerprint(cert.get()); }
std::string Issued::SpkiFingerprint() const {
  return Sha256Hex(ToDer(X509_get_X509_PUBKEY(cert.get()), i2d_X509_PUBKEY, "i2d_X509_PUBKEY"));
}

Issued Issue(const CertSpec& spec, const Issued* issuer, EVP_PKEY* key) {
  EvpPkeyPtr subject_key;
  if (key != nullptr) {
    EVP_PKEY_up_ref(key);
    subject_key.reset(key);
  } else {
    subject_key = MakeKey(spec.key_type);
  }
  X509Ptr cert(Checked(X509_new(), "X509_new"));
  CheckOpenssl(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
  SetSerial(cert.get(), spec.serial);

  int64_t now = NowUnix();
  CheckOpenssl(ASN1_TIME_set(X509_getm_notBefore(cert.get()),
                             static_cast<time_t>(spec.not_before.value_or(now - kHour))) != nullptr,
               "set notBefore");
  CheckOpenssl(
      ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                    static_cast<time_t>(spec.not_after.value_or(now + 397 * kDay))) != nullptr,
      "set notAfter");

  SetName(X509_get_subject_name(cert.get()), spec.cn, spec.organization);
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : cert.get();
  EVP_PKEY* signing_key = issuer != nullptr ? issuer->key.get() : subject_key.get();
  CheckOpenssl(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)) == 1,
               "X509_set_issuer_name");
  CheckOpenssl(X509_set_pubkey(cert.get(), subject_key.get()) == 1, "X509_set_pubkey");
  AddCertExtensions(cert.get(), spec, issuer_cert);
  CheckOpenssl(X509_sign(cert.get(), signing_key, DigestFor(spec.digest, signing_key)) > 0,
               "X509_sign");
  return Issued(std::move(cert), std::move(subject_key));
}

TestPki TestPki::Make(const CertSpec& leaf_spec) {
  TestPki pki;
  pki.root = Issue(CaSpec("certinbox Test Root CA"));
  pki.intermediate = Issue(CaSpec("certinbox Test Intermediate CA"), &pki.root);
  pki.leaf = Issue(leaf_spec, &pki.intermediate);
  return pki;
}

std::string TestPki::ChainPem() const { return CertsPem({&leaf, &intermediate, &root}); }

std::string CertPem(X509* cert) {
  BioPtr bio = NewMemBio();
  CheckOpenssl(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  return BioContents(bio.get());
}

std::string CertDer(X509* cert) { return ToDer(cert, i2d_X509, "i2d_X509"); }

std::string CertsPem(const CertList& certs) {
  std::string out;
  for (const Issued* issued : certs) out += CertPem(issued->cert.get());
  return out;
}

std::string TrustedCertPem(X509* cert) {
  BioPtr bio = NewMemBio();
  CheckOpenssl(PEM_write_bio_X509_AUX(bio.get(), cert) == 1, "PEM_write_bio_X509_AUX");
  return BioContents(bio.get());
}

std::string KeyPkcs8Pem(EVP_PKEY* key) { return EncodeKey(key, "PEM", "PrivateKeyInfo"); }
std::string KeyPkcs8Der(EVP_PKEY* key) { return EncodeKey(key, "DER", "PrivateKeyInfo"); }

std::string KeyPkcs1Pem(EVP_PKEY* key) {
  RequireKeyType(key, "RSA");
  return EncodeKey(key, "PEM", "type-specific");
}

std::string KeyPkcs1Der(EVP_PKEY* key) {
  RequireKeyType(key, "RSA");
  return EncodeKey(key, "DER", "type-specific");
}

std::string KeySec1Pem(EVP_PKEY* key) {
  RequireKeyType(key, "EC");
  return EncodeKey(key, "PEM", "type-specific");
}

std::string KeySec1Der(EVP_PKEY* key) {
  RequireKeyType(key, "EC");
  return EncodeKey(key, "DER", "type-specific");
}

std::string KeyEncryptedPkcs8Pem(EVP_PKEY* key, std::string_view password) {
  return EncodeKey(key, "PEM", "EncryptedPrivateKeyInfo", password);
}

std::string KeyEncryptedPkcs8Der(EVP_PKEY* key, std::string_view password) {
  return EncodeKey(key, "DER", "EncryptedPrivateKeyInfo", password);
}

std::string KeyLegacyEncryptedPem(EVP_PKEY* key, std::string_view password) {
  if (!EVP_PKEY_is_a(key, "RSA") && !EVP_PKEY_is_a(key, "EC")) {
    throw std::runtime_error("test CA: legacy PEM encryption needs an RSA or EC key");
  }
  return EncodeKey(key, "PEM", "type-specific", password);
}

std::string MakePkcs12(const Issued& cert, const CertList& chain,
                       std::optional<std::string_view> password, Pkcs12Cipher cipher) {
  pipeline::LoadOpensslProviders();  // RC2 and 3DES live in the legacy provider
  std::string pass = password ? std::string(*password) : std::string();
  const char* pass_arg = password ? pass.c_str() : nullptr;
  BorrowedCertStack ca(NewCertStack(chain));

  int key_nid = NID_aes_256_cbc;
  int cert_nid = NID_aes_256_cbc;
  const EVP_MD* mac_md = EVP_sha256();
  if (cipher == Pkcs12Cipher::kLegacy) {
    key_nid = NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
    cert_nid = NID_pbe_WithSHA1And40BitRC2_CBC;
    mac_md = EVP_sha1();
  }
  if (!password) key_nid = cert_nid = -1;  // nothing encrypted, and no MAC below

  // mac_iter -1: no MAC from PKCS12_create; it is added below with the chosen digest.
  pipeline::Pkcs12Ptr p12(
      Checked(PKCS12_create(pass_arg, "certinbox test", cert.key.get(), cert.cert.get(), ca.get(),
                            key_nid, cert_nid, PKCS12_DEFAULT_ITER, -1, 0),
              "PKCS12_create"));
  if (password) {
    CheckOpenssl(
        PKCS12_set_mac(p12.get(), pass_arg, -1, nullptr, 0, PKCS12_DEFAULT_ITER, mac_md) == 1,
        "PKCS12_set_mac");
  }
  return ToDer(p12.get(), i2d_PKCS12, "i2d_PKCS12");
}

std::string Pkcs7Der(const CertList& certs) {
  return ToDer(MakePkcs7(certs).get(), i2d_PKCS7, "i2d_PKCS7");
}

std::string Pkcs7Pem(const CertList& certs) {
  Pkcs7Ptr p7 = MakePkcs7(certs);
  BioPtr bio = NewMemBio();
  CheckOpenssl(PEM_write_bio_PKCS7(bio.get(), p7.get()) == 1, "PEM_write_bio_PKCS7");
  return BioContents(bio.get());
}

std::string IssuedCsr::Pem() const {
  BioPtr bio = NewMemBio();
  CheckOpenssl(PEM_write_bio_X509_REQ(bio.get(), req.get()) == 1, "PEM_write_bio_X509_REQ");
  return BioContents(bio.get());
}

std::string IssuedCsr::Der() const { return ToDer(req.get(), i2d_X509_REQ, "i2d_X509_REQ"); }

IssuedCsr MakeCsr(const CsrSpec& spec) {
  IssuedCsr csr;
  csr.key = MakeKey(spec.key_type);
  csr.req.reset(Checked(X509_REQ_new(), "X509_REQ_new"));
  CheckOpenssl(X509_REQ_set_version(csr.req.get(), X509_REQ_VERSION_1) == 1,
               "X509_REQ_set_version");
  SetName(X509_REQ_get_subject_name(csr.req.get()), spec.cn, "");
  CheckOpenssl(X509_REQ_set_pubkey(csr.req.get(), csr.key.get()) == 1, "X509_REQ_set_pubkey");
  if (!spec.sans.empty()) {
    pipeline::GeneralNamesPtr names = MakeGeneralNames(spec.sans);
    ExtensionPtr san(Checked(X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get()), "SAN"));
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, san.get());
    int ok = X509_REQ_add_extensions(csr.req.get(), exts);
    sk_X509_EXTENSION_free(exts);
    CheckOpenssl(ok == 1, "X509_REQ_add_extensions");
  }
  CheckOpenssl(
      X509_REQ_sign(csr.req.get(), csr.key.get(), DigestFor(Digest::kSha256, csr.key.get())) > 0,
      "X509_REQ_sign");
  return csr;
}

Issued SignCsr(std::string_view csr_pem, const CertSpec& spec, const Issued& issuer) {
  BioPtr bio(Checked(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())),
                     "BIO_new_mem_buf"));
  X509ReqPtr req(Checked(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr),
                         "PEM_read_bio_X509_REQ"));
  EVP_PKEY* key = Checked(X509_REQ_get0_pubkey(req.get()), "X509_REQ_get0_pubkey");
  CheckOpenssl(X509_REQ_verify(req.get(), key) == 1, "X509_REQ_verify");
  return Issue(spec, &issuer, key);
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  CheckOpenssl(EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) == 1,
               "EVP_Digest");
  return Hex(md, len);
}

std::string Sha256Fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  CheckOpenssl(X509_digest(cert, EVP_sha256(), md, &len) == 1, "X509_digest");
  return Hex(md, len);
}

int64_t NowUnix() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace certinbox::testing
