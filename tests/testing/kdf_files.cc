#include "tests/testing/kdf_files.h"

#include <openssl/asn1t.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <memory>

#include "pipeline/ossl.h"
#include "tests/testing/openssl_check.h"

namespace certinbox::testing {
namespace {

using pipeline::Free;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

void SetInteger(ASN1_INTEGER* value, uint64_t count) {
  CheckOpenssl(ASN1_INTEGER_set_uint64(value, count) == 1, "ASN1_INTEGER_set_uint64");
}

// Rewrites the count of a PBES2 (PBKDF2 iterations or scrypt N) or PBE (iterations) algorithm.
void SetCount(X509_ALGOR* algorithm, uint64_t count) {
  if (OBJ_obj2nid(algorithm->algorithm) != NID_pbes2) {
    std::unique_ptr<PBEPARAM, Free<PBEPARAM_free>> pbe(static_cast<PBEPARAM*>(
        ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM), algorithm->parameter)));
    CheckOpenssl(pbe != nullptr, "PBEPARAM");
    SetInteger(pbe->iter, count);
    CheckOpenssl(
        ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBEPARAM), pbe.get(), &algorithm->parameter),
        "pack PBEPARAM");
    return;
  }
  std::unique_ptr<PBE2PARAM, Free<PBE2PARAM_free>> pbe2(static_cast<PBE2PARAM*>(
      ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), algorithm->parameter)));
  CheckOpenssl(pbe2 != nullptr, "PBE2PARAM");
  if (OBJ_obj2nid(pbe2->keyfunc->algorithm) == NID_id_scrypt) {
    std::unique_ptr<SCRYPT_PARAMS, Free<SCRYPT_PARAMS_free>> kdf(static_cast<SCRYPT_PARAMS*>(
        ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS), pbe2->keyfunc->parameter)));
    CheckOpenssl(kdf != nullptr, "SCRYPT_PARAMS");
    SetInteger(kdf->costParameter, count);
    CheckOpenssl(ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS), kdf.get(),
                                         &pbe2->keyfunc->parameter),
                 "pack SCRYPT_PARAMS");
  } else {
    std::unique_ptr<PBKDF2PARAM, Free<PBKDF2PARAM_free>> kdf(static_cast<PBKDF2PARAM*>(
        ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter)));
    CheckOpenssl(kdf != nullptr, "PBKDF2PARAM");
    SetInteger(kdf->iter, count);
    CheckOpenssl(
        ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), kdf.get(), &pbe2->keyfunc->parameter),
        "pack PBKDF2PARAM");
  }
  CheckOpenssl(
      ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBE2PARAM), pbe2.get(), &algorithm->parameter),
      "pack PBE2PARAM");
}

std::string EncryptPkcs8(EVP_PKEY* key, std::string_view password, X509_ALGOR* algorithm) {
  CheckOpenssl(algorithm != nullptr, "PKCS5_pbe2_set");
  std::unique_ptr<PKCS8_PRIV_KEY_INFO, Free<PKCS8_PRIV_KEY_INFO_free>> info(EVP_PKEY2PKCS8(key));
  CheckOpenssl(info != nullptr, "EVP_PKEY2PKCS8");
  X509_SIG* sig = PKCS8_set0_pbe(password.data(), static_cast<int>(password.size()), info.get(),
                                 algorithm);  // takes `algorithm` on success
  if (sig == nullptr) X509_ALGOR_free(algorithm);
  CheckOpenssl(sig != nullptr, "PKCS8_set0_pbe");
  std::unique_ptr<X509_SIG, Free<X509_SIG_free>> owner(sig);
  return ToDer(sig, i2d_X509_SIG, "i2d_X509_SIG");
}

struct SafesFree {
  void operator()(STACK_OF(PKCS7) * s) const { sk_PKCS7_pop_free(s, PKCS7_free); }
};
struct BagsFree {
  void operator()(STACK_OF(PKCS12_SAFEBAG) * s) const {
    sk_PKCS12_SAFEBAG_pop_free(s, PKCS12_SAFEBAG_free);
  }
};

pipeline::Pkcs12Ptr DecodePkcs12(std::string_view der) {
  const unsigned char* p = Bytes(der);
  pipeline::Pkcs12Ptr p12(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
  CheckOpenssl(p12 != nullptr, "d2i_PKCS12");
  return p12;
}

}  // namespace

std::string KeyPbkdf2Pkcs8Der(EVP_PKEY* key, std::string_view password, uint64_t iterations) {
  X509_ALGOR* algorithm = PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), static_cast<int>(iterations),
                                            nullptr, 0, nullptr, NID_hmacWithSHA256);
  return EncryptPkcs8(key, password, algorithm);
}

std::string KeyScryptPkcs8Der(EVP_PKEY* key, std::string_view password, uint64_t n, uint64_t r,
                              uint64_t p) {
  X509_ALGOR* algorithm = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), nullptr, 0, nullptr, n, r, p);
  return EncryptPkcs8(key, password, algorithm);
}

std::string WithPkcs8Count(std::string_view der, uint64_t count) {
  const unsigned char* p = Bytes(der);
  std::unique_ptr<X509_SIG, Free<X509_SIG_free>> sig(
      d2i_X509_SIG(nullptr, &p, static_cast<long>(der.size())));
  CheckOpenssl(sig != nullptr, "d2i_X509_SIG");
  X509_ALGOR* algorithm = nullptr;
  X509_SIG_getm(sig.get(), &algorithm, nullptr);
  SetCount(algorithm, count);
  return ToDer(sig.get(), i2d_X509_SIG, "i2d_X509_SIG");
}

std::string PemOfDer(std::string_view label, std::string_view der) {
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), Bytes(der),
                          static_cast<int>(der.size()));
  b64.resize(static_cast<size_t>(n));
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + "-----END " + std::string(label) + "-----\n";
}

std::string MakePkcs12Iterations(const Issued& cert, std::string_view password, uint64_t iterations,
                                 uint64_t mac_iterations) {
  std::string pass(password);
  pipeline::Pkcs12Ptr p12(PKCS12_create(pass.c_str(), "certinbox test", cert.key.get(),
                                        cert.cert.get(), nullptr, NID_aes_256_cbc, NID_aes_256_cbc,
                                        static_cast<int>(iterations), -1, 0));
  CheckOpenssl(p12 != nullptr, "PKCS12_create");
  CheckOpenssl(PKCS12_set_mac(p12.get(), pass.c_str(), -1, nullptr, 0,
                              static_cast<int>(mac_iterations), EVP_sha256()) == 1,
               "PKCS12_set_mac");
  return ToDer(p12.get(), i2d_PKCS12, "i2d_PKCS12");
}

std::string WithMacCount(std::string_view pfx, uint64_t count) {
  pipeline::Pkcs12Ptr p12 = DecodePkcs12(pfx);
  const ASN1_INTEGER* iter = nullptr;
  PKCS12_get0_mac(nullptr, nullptr, nullptr, &iter, p12.get());
  CheckOpenssl(iter != nullptr, "PKCS12_get0_mac (the file has no MAC iteration count)");
  SetInteger(const_cast<ASN1_INTEGER*>(iter), count);
  return ToDer(p12.get(), i2d_PKCS12, "i2d_PKCS12");
}

std::string WithBagCount(std::string_view pfx, uint64_t count) {
  pipeline::Pkcs12Ptr p12 = DecodePkcs12(pfx);
  std::unique_ptr<STACK_OF(PKCS7), SafesFree> safes(PKCS12_unpack_authsafes(p12.get()));
  CheckOpenssl(safes != nullptr, "PKCS12_unpack_authsafes");
  for (int i = 0; i < sk_PKCS7_num(safes.get()); ++i) {
    PKCS7* p7 = sk_PKCS7_value(safes.get(), i);
    if (OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted) {
      SetCount(p7->d.encrypted->enc_data->algorithm, count);
      continue;
    }
    if (OBJ_obj2nid(p7->type) != NID_pkcs7_data) continue;
    std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), BagsFree> bags(PKCS12_unpack_p7data(p7));
    CheckOpenssl(bags != nullptr, "PKCS12_unpack_p7data");
    for (int b = 0; b < sk_PKCS12_SAFEBAG_num(bags.get()); ++b) {
      PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags.get(), b);
      if (PKCS12_SAFEBAG_get_nid(bag) != NID_pkcs8ShroudedKeyBag) continue;
      auto* sig = const_cast<X509_SIG*>(PKCS12_SAFEBAG_get0_pkcs8(bag));
      X509_ALGOR* algorithm = nullptr;
      X509_SIG_getm(sig, &algorithm, nullptr);
      SetCount(algorithm, count);
    }
    PKCS7* repacked = PKCS12_pack_p7data(bags.get());
    CheckOpenssl(repacked != nullptr, "PKCS12_pack_p7data");
    PKCS7_free(p7);  // sk_PKCS7_set returns the new value, not the one it replaces
    sk_PKCS7_set(safes.get(), i, repacked);
  }
  CheckOpenssl(PKCS12_pack_authsafes(p12.get(), safes.get()) == 1, "PKCS12_pack_authsafes");
  return ToDer(p12.get(), i2d_PKCS12, "i2d_PKCS12");
}

}  // namespace certinbox::testing
