#include "pipeline/export.h"

#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <algorithm>

#include "base/error.h"
#include "base/error_codes.h"
#include "pipeline/keys.h"

namespace certinbox::pipeline {

namespace {

void FreeX509Stack(STACK_OF(X509) * stack) { sk_X509_pop_free(stack, X509_free); }
using X509StackPtr = std::unique_ptr<STACK_OF(X509), Free<FreeX509Stack>>;

X509Ptr DecodeCert(std::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert && p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) cert.reset();
  return cert;
}

}  // namespace

std::string PemEncode(std::string_view label, std::string_view der) {
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  constexpr size_t kLineBytes = 48;  // 48 bytes become one 64-column line of base64
  unsigned char line[65];
  for (size_t at = 0; at < der.size(); at += kLineBytes) {
    size_t n = std::min(kLineBytes, der.size() - at);
    int written = EVP_EncodeBlock(line, reinterpret_cast<const unsigned char*>(der.data() + at),
                                  static_cast<int>(n));
    out.append(reinterpret_cast<const char*>(line), static_cast<size_t>(written));
    out += '\n';
  }
  return out + "-----END " + std::string(label) + "-----\n";
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(std::max(written, 0)));
  return out;
}

SecretBytes PrivateKeyPem(std::string_view pkcs8_der) {
  std::string head = "-----BEGIN PRIVATE KEY-----\n";
  std::string tail = "-----END PRIVATE KEY-----\n";
  constexpr size_t kLineBytes = 48;
  const size_t lines = (pkcs8_der.size() + kLineBytes - 1) / kLineBytes;
  SecretBytes out;
  out.resize(head.size() + tail.size() + lines * 65);
  size_t at = 0;
  std::copy(head.begin(), head.end(), out.data());
  at += head.size();
  for (size_t in = 0; in < pkcs8_der.size(); in += kLineBytes) {
    size_t n = std::min(kLineBytes, pkcs8_der.size() - in);
    int written = EVP_EncodeBlock(out.data() + at,
                                  reinterpret_cast<const unsigned char*>(pkcs8_der.data() + in),
                                  static_cast<int>(n));
    at += static_cast<size_t>(written);
    out.data()[at++] = '\n';
  }
  std::copy(tail.begin(), tail.end(), out.data() + at);
  at += tail.size();
  out.resize(at);
  return out;
}

base::Result<std::string> BuildPkcs12(std::string_view cert_der,
                                      const std::vector<std::string>& chain_der,
                                      std::string_view key_pkcs8_der, std::string_view password,
                                      const std::string& friendly_name) {
  X509Ptr cert = DecodeCert(cert_der);
  if (!cert)
    return base::Fail(base::code::kPkcs12BuildFailed, "the stored certificate does not decode");
  EvpPkeyPtr key = DecodePrivateKeyDer(key_pkcs8_der, KeyStructure::kPkcs8);
  if (!key)
    return base::Fail(base::code::kPkcs12BuildFailed, "the stored private key does not decode");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    DrainOpensslErrors();
    return base::Fail(base::code::kPkcs12BuildFailed,
                      "the stored private key does not match the certificate");
  }
  X509StackPtr chain(sk_X509_new_null());
  if (!chain)
    return base::Fail(base::code::kPkcs12BuildFailed, "sk_X509_new_null: " + DrainOpensslErrors());
  for (const std::string& der : chain_der) {
    X509Ptr ca = DecodeCert(der);
    if (!ca)
      return base::Fail(base::code::kPkcs12BuildFailed,
                        "a stored chain certificate does not decode");
    if (sk_X509_push(chain.get(), ca.get()) <= 0) {
      return base::Fail(base::code::kPkcs12BuildFailed, "sk_X509_push: " + DrainOpensslErrors());
    }
    (void)ca.release();
  }
  // PKCS12_create wants a NUL-terminated password.
  SecretBytes pass(password);
  pass.resize(password.size() + 1);
  pass.data()[password.size()] = 0;
  // nid 0 / iter 0 / mac_iter 0: OpenSSL 3's defaults (AES-256-CBC, PBKDF2, SHA-256 MAC).
  Pkcs12Ptr p12(PKCS12_create(reinterpret_cast<const char*>(pass.data()), friendly_name.c_str(),
                              key.get(), cert.get(), chain.get(), 0, 0, 0, 0, 0));
  if (!p12)
    return base::Fail(base::code::kPkcs12BuildFailed, "PKCS12_create: " + DrainOpensslErrors());
  unsigned char* buf = nullptr;
  int len = i2d_PKCS12(p12.get(), &buf);
  if (len <= 0)
    return base::Fail(base::code::kPkcs12BuildFailed, "i2d_PKCS12: " + DrainOpensslErrors());
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return out;
}

}  // namespace certinbox::pipeline
