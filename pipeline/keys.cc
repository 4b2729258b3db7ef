#include "pipeline/keys.h"

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/error.h"
#include "base/error_codes.h"
#include "pipeline/budget.h"
#include "pipeline/describe.h"
#include "pipeline/parse.h"
#include "pipeline/shutdown.h"

namespace certinbox::pipeline {
namespace {

using BignumPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;
using X509PubkeyPtr = std::unique_ptr<X509_PUBKEY, Free<X509_PUBKEY_free>>;

// One reusable decoder. OSSL_DECODER_CTX_new_for_pkey keeps a pointer to `out` and writes
// each decoded key there, so a slot never moves (it lives in a thread_local).
struct DecoderSlot {
  OSSL_DECODER_CTX* ctx = nullptr;
  EVP_PKEY* out = nullptr;
  bool failed = false;  // no decoder could be set up; do not retry on every key

  ~DecoderSlot() {
    if (OpensslShuttingDown()) return;  // see shutdown.h
    OSSL_DECODER_CTX_free(ctx);
    EVP_PKEY_free(out);
  }
};

// A PrivateKeyInfo names its key type by OID. A decoder context for that one type runs a
// handful of decoders instead of every one the providers offer (for EC: 6 instead of 25,
// half the time per key). Types not listed here use the context for any type.
struct Pkcs8Type {
  int nid;
  const char* key_type;  // the provider's key type name
};
constexpr Pkcs8Type kPkcs8Types[] = {
    {NID_rsaEncryption, "RSA"}, {NID_rsassaPss, "RSA-PSS"}, {NID_X9_62_id_ecPublicKey, "EC"},
    {NID_ED25519, "ED25519"},   {NID_ED448, "ED448"},       {NID_X25519, "X25519"},
    {NID_X448, "X448"},         {NID_dsa, "DSA"},
};
constexpr size_t kNumPkcs8Types = sizeof kPkcs8Types / sizeof kPkcs8Types[0];

struct ThreadDecoders {
  DecoderSlot pkcs8;  // any key type
  DecoderSlot pkcs8_typed[kNumPkcs8Types];
  DecoderSlot pkcs1;
  DecoderSlot sec1;
};

thread_local ThreadDecoders t_decoders;

// The slot for `structure`; for kPkcs8 with a known `pkcs8_nid`, the slot for that type.
DecoderSlot& SlotFor(KeyStructure structure, int pkcs8_nid, const char*& input_structure,
                     const char*& key_type) {
  switch (structure) {
    case KeyStructure::kPkcs1:
      input_structure = "type-specific";
      key_type = "RSA";
      return t_decoders.pkcs1;
    case KeyStructure::kSec1:
      input_structure = "type-specific";
      key_type = "EC";
      return t_decoders.sec1;
    case KeyStructure::kPkcs8:
      break;
  }
  input_structure = "PrivateKeyInfo";
  for (size_t i = 0; i < kNumPkcs8Types; ++i) {
    if (kPkcs8Types[i].nid == pkcs8_nid) {
      key_type = kPkcs8Types[i].key_type;
      return t_decoders.pkcs8_typed[i];
    }
  }
  key_type = nullptr;
  return t_decoders.pkcs8;
}

// Decodes with the decoder context of `slot`, creating it on first use.
EvpPkeyPtr DecodeWith(DecoderSlot& slot, const char* input_structure, const char* key_type,
                      std::string_view der);

// The candidates in the documented order (docs/inbox.md, "Passwords"): the caller's, then the
// empty password.
std::vector<std::string_view> KeyPasswordCandidates(const std::vector<SecretBytes>& passwords) {
  std::vector<std::string_view> out;
  out.reserve(passwords.size() + 1);
  bool has_empty = false;
  for (const SecretBytes& p : passwords) {
    out.push_back(p.view());
    has_empty = has_empty || p.empty();
  }
  if (!has_empty) out.push_back(std::string_view("", 0));
  return out;
}

base::Error PasswordFailure(const std::vector<SecretBytes>& passwords) {
  if (passwords.empty()) {
    return base::Error{base::code::kKeyPasswordRequired,
                       "the private key is encrypted and no password was given: put it in the "
                       "file's sidecar (password or password_file) or the inbox's password_file"};
  }
  return base::Error{base::code::kKeyBadPassword,
                     "none of the " + std::to_string(passwords.size()) +
                         " candidate passwords (nor the empty one) decrypts the private key: check "
                         "the sidecar's password or the inbox's password_file"};
}

void AppendDerLength(std::string& out, size_t len) {
  if (len < 0x80) {
    out.push_back(static_cast<char>(len));
    return;
  }
  unsigned char bytes[sizeof(size_t)];
  int n = 0;
  for (size_t v = len; v != 0; v >>= 8) bytes[n++] = static_cast<unsigned char>(v);
  out.push_back(static_cast<char>(0x80 | n));
  while (n > 0) out.push_back(static_cast<char>(bytes[--n]));
}

void AppendDerInteger(std::string& out, const BIGNUM* bn) {
  std::string value(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(value.data()));
  if (value.empty() || (static_cast<unsigned char>(value[0]) & 0x80) != 0) value.insert(0, 1, '\0');
  out.push_back(0x02);
  AppendDerLength(out, value.size());
  out += value;
}

// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
bool RsaPublicKeyDer(EVP_PKEY* key, std::string& out) {
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    return false;
  }
  BignumPtr n_owner(n), e_owner(e);
  std::string body;
  AppendDerInteger(body, n);
  AppendDerInteger(body, e);
  out.clear();
  out.push_back(0x30);
  AppendDerLength(out, body.size());
  out += body;
  return true;
}

bool OctetParam(EVP_PKEY* key, const char* name, std::string& out) {
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key, name, nullptr, 0, &len) != 1) return false;
  out.resize(len);
  if (EVP_PKEY_get_octet_string_param(key, name, reinterpret_cast<unsigned char*>(out.data()),
                                      out.size(), &len) != 1) {
    return false;
  }
  out.resize(len);
  return true;
}

// Builds the SubjectPublicKeyInfo from the key's parameters. i2d_PUBKEY would create an
// OSSL_ENCODER for every key, which costs more than decoding the key did.
bool DirectSpkiDer(EVP_PKEY* key, std::string& out) {
  int algorithm = NID_undef;
  int param_type = V_ASN1_UNDEF;
  void* param = nullptr;
  std::string public_key;
  if (EVP_PKEY_is_a(key, "RSA")) {
    algorithm = NID_rsaEncryption;
    param_type = V_ASN1_NULL;
    if (!RsaPublicKeyDer(key, public_key)) return false;
  } else if (EVP_PKEY_is_a(key, "EC")) {
    char group[80];
    size_t group_len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &group_len) != 1) {
      return false;  // explicit curve parameters: let the encoder handle them
    }
    int curve = OBJ_txt2nid(group);
    if (curve == NID_undef) curve = EC_curve_nist2nid(group);
    if (curve == NID_undef) return false;
    algorithm = NID_X9_62_id_ecPublicKey;
    param_type = V_ASN1_OBJECT;
    param = OBJ_nid2obj(curve);
    if (!OctetParam(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, public_key)) return false;
  } else {
    for (int nid : {NID_ED25519, NID_ED448, NID_X25519, NID_X448}) {
      if (EVP_PKEY_is_a(key, OBJ_nid2sn(nid))) algorithm = nid;
    }
    if (algorithm == NID_undef) return false;
    size_t len = 0;
    if (EVP_PKEY_get_raw_public_key(key, nullptr, &len) != 1) return false;
    public_key.resize(len);
    if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(public_key.data()),
                                    &len) != 1) {
      return false;
    }
  }
  X509PubkeyPtr spki(X509_PUBKEY_new());
  if (!spki) return false;
  auto* bits = static_cast<unsigned char*>(OPENSSL_malloc(public_key.size() + 1));
  if (bits == nullptr) return false;
  memcpy(bits, public_key.data(), public_key.size());
  if (X509_PUBKEY_set0_param(spki.get(), OBJ_nid2obj(algorithm), param_type, param, bits,
                             static_cast<int>(public_key.size())) != 1) {
    OPENSSL_free(bits);
    return false;
  }
  unsigned char* der = nullptr;
  int der_len = i2d_X509_PUBKEY(spki.get(), &der);
  if (der_len <= 0) return false;
  out.assign(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
  OPENSSL_free(der);
  return true;
}

SecretBytes EncodePkcs8(EVP_PKEY* key) {
  Pkcs8InfoPtr info(EVP_PKEY2PKCS8(key));
  if (!info) return {};
  unsigned char* der = nullptr;
  int len = i2d_PKCS8_PRIV_KEY_INFO(info.get(), &der);
  if (len <= 0) return {};
  SecretBytes out(std::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(len)));
  OPENSSL_clear_free(der, static_cast<size_t>(len));
  return out;
}

struct PemPassword {
  std::string_view password;
};

int PemPasswordCallback(char* buf, int size, int rwflag, void* u) {
  const auto* pw = static_cast<const PemPassword*>(u);
  if (pw->password.size() > static_cast<size_t>(size)) return -1;
  memcpy(buf, pw->password.data(), pw->password.size());
  return static_cast<int>(pw->password.size());
}

EvpPkeyPtr DecodeWith(DecoderSlot& slot, const char* input_structure, const char* key_type,
                      std::string_view der) {
  if (slot.ctx == nullptr) {
    if (slot.failed) return nullptr;
    slot.ctx = OSSL_DECODER_CTX_new_for_pkey(&slot.out, "DER", input_structure, key_type,
                                             EVP_PKEY_KEYPAIR, ThreadLibCtx(), nullptr);
    if (slot.ctx == nullptr || OSSL_DECODER_CTX_get_num_decoders(slot.ctx) == 0) {
      OSSL_DECODER_CTX_free(slot.ctx);
      slot.ctx = nullptr;
      slot.failed = true;
      DrainOpensslErrors();
      return nullptr;
    }
  }
  EVP_PKEY_free(slot.out);
  slot.out = nullptr;
  const unsigned char* data = DerBytes(der);
  size_t left = der.size();
  int ok = OSSL_DECODER_from_data(slot.ctx, &data, &left);
  EvpPkeyPtr key(slot.out);
  slot.out = nullptr;
  if (ok != 1 || !key || left != 0) {
    ERR_clear_error();  // "no decoder found" noise; the caller names the failure
    return nullptr;
  }
  return key;
}

}  // namespace

EvpPkeyPtr DecodePrivateKeyDer(std::string_view der, KeyStructure structure, bool* whole_pkcs8) {
  int pkcs8_nid = NID_undef;
  if (structure == KeyStructure::kPkcs8) {
    // The PrivateKeyInfo is parsed once here for its algorithm (which decoder to use) and for
    // whether it is exactly one PKCS#8 structure (which the caller wants to know).
    const unsigned char* p = DerBytes(der);
    Pkcs8InfoPtr info(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size())));
    if (whole_pkcs8 != nullptr) *whole_pkcs8 = info && p == DerBytes(der) + der.size();
    const ASN1_OBJECT* algorithm = nullptr;
    if (info && PKCS8_pkey_get0(&algorithm, nullptr, nullptr, nullptr, info.get()) == 1) {
      pkcs8_nid = OBJ_obj2nid(algorithm);
    }
    ERR_clear_error();
  }
  const char* input_structure = nullptr;
  const char* key_type = nullptr;
  DecoderSlot& slot = SlotFor(structure, pkcs8_nid, input_structure, key_type);
  EvpPkeyPtr key = DecodeWith(slot, input_structure, key_type, der);
  if (!key && &slot != &t_decoders.pkcs8 && structure == KeyStructure::kPkcs8) {
    // The typed decoder said no: ask every decoder, so nothing the generic context accepts
    // is refused (an SM2 key under id-ecPublicKey, say).
    key = DecodeWith(t_decoders.pkcs8, input_structure, nullptr, der);
  }
  return key;
}

bool IsEncryptedPkcs8(std::string_view der) {
  return DecodeWholeAs<X509SigPtr>(der, d2i_X509_SIG) != nullptr;
}

bool IsPkcs8(std::string_view der) {
  return DecodeWholeAs<Pkcs8InfoPtr>(der, d2i_PKCS8_PRIV_KEY_INFO) != nullptr;
}

base::Result<SecretBytes> DecryptPkcs8(std::string_view der,
                                       const std::vector<SecretBytes>& passwords,
                                       ParseBudget& budget) {
  const unsigned char* p = DerBytes(der);
  X509SigPtr sig(d2i_X509_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) {
    return base::Fail(
        base::code::kBadKey,
        "the encrypted private key is not a valid PKCS#8 structure: " + DrainOpensslErrors());
  }
  const X509_ALGOR* algorithm = nullptr;
  X509_SIG_get0(sig.get(), &algorithm, nullptr);
  constexpr std::string_view kWhat = "the encrypted private key";
  if (auto ok = budget.Admit(algorithm, kWhat); !ok) return std::unexpected(ok.error());
  for (std::string_view password : KeyPasswordCandidates(passwords)) {
    if (auto ok = budget.Charge(algorithm, kWhat); !ok) return std::unexpected(ok.error());
    Pkcs8InfoPtr info(PKCS8_decrypt(sig.get(), password.data(), static_cast<int>(password.size())));
    if (!info) continue;
    unsigned char* plain = nullptr;
    int len = i2d_PKCS8_PRIV_KEY_INFO(info.get(), &plain);
    if (len <= 0) break;
    SecretBytes out(std::string_view(reinterpret_cast<char*>(plain), static_cast<size_t>(len)));
    OPENSSL_clear_free(plain, static_cast<size_t>(len));
    ERR_clear_error();  // failures of the candidates tried before this one
    return out;
  }
  ERR_clear_error();
  return std::unexpected(PasswordFailure(passwords));
}

base::Result<EvpPkeyPtr> DecryptLegacyPemKey(std::string_view pem_text,
                                             const std::vector<SecretBytes>& passwords,
                                             ParseBudget& budget) {
  for (std::string_view password : KeyPasswordCandidates(passwords)) {
    if (auto ok = budget.Check(); !ok) return std::unexpected(ok.error());
    BioPtr bio(BIO_new_mem_buf(pem_text.data(), static_cast<int>(pem_text.size())));
    if (!bio) break;
    PemPassword pw{password};
    EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, PemPasswordCallback, &pw));
    if (key) {
      ERR_clear_error();
      return key;
    }
  }
  ERR_clear_error();
  return std::unexpected(PasswordFailure(passwords));
}

base::Result<PrivateKey> MakePrivateKey(EvpPkeyPtr key, SecretBytes pkcs8_der) {
  PrivateKey out;
  std::string spki = SpkiDer(key.get());
  if (spki.empty()) {
    return base::Fail(
        base::code::kBadKey,
        "the public half of the private key could not be encoded: " + DrainOpensslErrors());
  }
  out.spki_sha256 = Sha256Hex(spki);
  out.algorithm = KeyAlgorithmName(key.get());
  out.bits = EVP_PKEY_get_bits(key.get());
  out.pkcs8_der = pkcs8_der.empty() ? EncodePkcs8(key.get()) : std::move(pkcs8_der);
  if (out.pkcs8_der.empty()) {
    return base::Fail(base::code::kBadKey,
                      "the " + out.algorithm +
                          " private key could not be written as PKCS#8: " + DrainOpensslErrors());
  }
  out.pkey = std::move(key);
  return out;
}

std::string SpkiDer(EVP_PKEY* key) {
  std::string der;
  if (key == nullptr) return der;
  if (DirectSpkiDer(key, der)) return der;
  ERR_clear_error();
  unsigned char* buf = nullptr;
  int len = i2d_PUBKEY(key, &buf);
  if (len <= 0) return {};
  der.assign(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return der;
}

std::string SpkiSha256(EVP_PKEY* key) {
  std::string der = SpkiDer(key);
  if (der.empty()) {
    DrainOpensslErrors();
    return {};
  }
  return Sha256Hex(der);
}

}  // namespace certinbox::pipeline
