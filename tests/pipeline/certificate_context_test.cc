// The certificate library context (pipeline/certificate_provider.h): certificates decoded in
// it must behave as in an ordinary context, for every key type a certificate can carry, as
// issuer and as subject, also once the thread that decoded them has ended.
#include <gtest/gtest.h>
#include <openssl/decoder.h>
#include <openssl/dsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/error.h"
#include "pipeline/ossl.h"

namespace certinbox::pipeline {
namespace {

EvpPkeyPtr Generate(const char* type, int rsa_bits = 0) {
  if (std::string(type) == "DSA") {
    EvpPkeyCtxPtr pctx(EVP_PKEY_CTX_new_from_name(nullptr, "DSA", nullptr));
    EVP_PKEY* params = nullptr;
    if (!pctx || EVP_PKEY_paramgen_init(pctx.get()) != 1 ||
        EVP_PKEY_CTX_set_dsa_paramgen_bits(pctx.get(), 1024) != 1 ||
        EVP_PKEY_paramgen(pctx.get(), &params) != 1) {
      return nullptr;
    }
    EvpPkeyPtr owned_params(params);
    EvpPkeyCtxPtr kctx(EVP_PKEY_CTX_new_from_pkey(nullptr, params, nullptr));
    EVP_PKEY* key = nullptr;
    if (!kctx || EVP_PKEY_keygen_init(kctx.get()) != 1 || EVP_PKEY_keygen(kctx.get(), &key) != 1) {
      return nullptr;
    }
    return EvpPkeyPtr(key);
  }
  if (rsa_bits > 0) {
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* key = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), rsa_bits) != 1 ||
        EVP_PKEY_keygen(ctx.get(), &key) != 1) {
      return nullptr;
    }
    return EvpPkeyPtr(key);
  }
  if (std::string(type) == "EC")
    return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, type));
}

// DER of a certificate for `subject_key`, signed by `issuer_key` (SHA-256 where the issuer's
// algorithm takes a digest).
std::string Certificate(EVP_PKEY* subject_key, EVP_PKEY* issuer_key, const char* cn) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), subject_key);
  const char* id = EVP_PKEY_get0_type_name(issuer_key);
  bool digestless = std::string(id) == "ED25519" || std::string(id) == "ED448";
  if (X509_sign(cert.get(), issuer_key, digestless ? nullptr : EVP_sha256()) <= 0) return "";
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

X509Ptr DecodeOrdinary(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

struct KeyCase {
  const char* type;
  int rsa_bits;
};

class CertificateContextTest : public ::testing::TestWithParam<KeyCase> {};

// Every key type as subject and as issuer: the public key, its type and size are the same as
// from an ordinary d2i_X509, and the signature checks out against the issuer's key, whichever
// context that key came from.
TEST_P(CertificateContextTest, DecodesAndVerifiesLikeAnOrdinaryContext) {
  const KeyCase& c = GetParam();
  EvpPkeyPtr key = Generate(c.type, c.rsa_bits);
  ASSERT_TRUE(key) << c.type;
  bool can_sign = std::string(c.type) != "X25519" && std::string(c.type) != "X448";
  EvpPkeyPtr ca_key = can_sign ? nullptr : Generate("EC");
  EVP_PKEY* issuer_key = can_sign ? key.get() : ca_key.get();
  std::string der = Certificate(key.get(), issuer_key, "subject.test");
  ASSERT_FALSE(der.empty()) << DrainOpensslErrors();
  std::string issuer_der = can_sign ? der : Certificate(ca_key.get(), ca_key.get(), "issuer.test");

  X509Ptr ordinary = DecodeOrdinary(der);
  X509Ptr decoded = DecodeCertificateDer(der);
  ASSERT_TRUE(ordinary);
  ASSERT_TRUE(decoded) << DrainOpensslErrors();
  EVP_PKEY* public_key = X509_get0_pubkey(decoded.get());
  ASSERT_NE(public_key, nullptr) << c.type;
  EXPECT_EQ(EVP_PKEY_eq(public_key, X509_get0_pubkey(ordinary.get())), 1) << c.type;
  EXPECT_EQ(EVP_PKEY_eq(public_key, key.get()), 1) << c.type;
  EXPECT_STREQ(EVP_PKEY_get0_type_name(public_key),
               EVP_PKEY_get0_type_name(X509_get0_pubkey(ordinary.get())));
  EXPECT_EQ(EVP_PKEY_get_bits(public_key), EVP_PKEY_get_bits(key.get()));

  X509Ptr issuer_here = DecodeCertificateDer(issuer_der);
  X509Ptr issuer_ordinary = DecodeOrdinary(issuer_der);
  ASSERT_TRUE(issuer_here && issuer_ordinary);
  EXPECT_EQ(X509_verify(decoded.get(), X509_get0_pubkey(issuer_here.get())), 1) << c.type;
  EXPECT_EQ(X509_verify(decoded.get(), X509_get0_pubkey(issuer_ordinary.get())), 1) << c.type;
  EXPECT_EQ(X509_verify(decoded.get(), issuer_key), 1) << c.type;
  // And the other way round: a certificate from an ordinary context, the issuer's key from
  // this one.
  EXPECT_EQ(X509_verify(ordinary.get(), X509_get0_pubkey(issuer_here.get())), 1) << c.type;
  // A wrong key is still refused.
  EvpPkeyPtr other = Generate("EC");
  EXPECT_NE(X509_verify(decoded.get(), other.get()), 1);
  ERR_clear_error();
}

INSTANTIATE_TEST_SUITE_P(EveryKeyType, CertificateContextTest,
                         ::testing::Values(KeyCase{"EC", 0}, KeyCase{"RSA", 2048},
                                           KeyCase{"RSA-PSS", 2048}, KeyCase{"ED25519", 0},
                                           KeyCase{"ED448", 0}, KeyCase{"DSA", 0},
                                           KeyCase{"X25519", 0}, KeyCase{"X448", 0}),
                         [](const ::testing::TestParamInfo<KeyCase>& info) {
                           std::string name = info.param.type;
                           std::erase(name, '-');
                           return name;
                         });

// The context is a separate one, and it decodes public keys only: its provider has no
// decoder for a private key.
TEST(CertificateContextScope, IsItsOwnContextAndDecodesNoPrivateKeys) {
  ASSERT_NE(ThreadCertificateLibCtx(), ThreadLibCtx());
  EVP_PKEY* out = nullptr;
  OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(
      &out, "DER", "PrivateKeyInfo", "EC", EVP_PKEY_KEYPAIR, ThreadCertificateLibCtx(), nullptr);
  ASSERT_NE(dctx, nullptr);
  EXPECT_EQ(OSSL_DECODER_CTX_get_num_decoders(dctx), 0);
  OSSL_DECODER_CTX_free(dctx);
  dctx = OSSL_DECODER_CTX_new_for_pkey(&out, "DER", "SubjectPublicKeyInfo", "EC",
                                       EVP_PKEY_PUBLIC_KEY, ThreadCertificateLibCtx(), nullptr);
  ASSERT_NE(dctx, nullptr);
  EXPECT_GT(OSSL_DECODER_CTX_get_num_decoders(dctx), 0);
  OSSL_DECODER_CTX_free(dctx);
  ERR_clear_error();
}

// Not one certificate: nothing, and no object left behind (ASan would see a leak).
TEST(CertificateContextScope, RefusesWhatIsNotExactlyOneCertificate) {
  EvpPkeyPtr key = Generate("EC");
  std::string der = Certificate(key.get(), key.get(), "one.test");
  EXPECT_FALSE(DecodeCertificateDer(der + std::string(1, '\0')));
  EXPECT_FALSE(DecodeCertificateDer(der.substr(0, der.size() - 1)));
  EXPECT_FALSE(DecodeCertificateDer(""));
  EXPECT_FALSE(DecodeCertificateDer("not a certificate"));
  EXPECT_TRUE(DecodeCertificateDer(der));
  ERR_clear_error();
}

// A certificate decoded on a thread that has ended stays usable: its contexts are handed on,
// never freed.
TEST(CertificateContextScope, OutlivesTheThreadThatDecodedIt) {
  EvpPkeyPtr key = Generate("EC");
  std::string der = Certificate(key.get(), key.get(), "thread.test");
  X509Ptr decoded;
  OSSL_LIB_CTX* first = nullptr;
  std::thread([&] {
    decoded = DecodeCertificateDer(der);
    first = ThreadCertificateLibCtx();
  }).join();
  ASSERT_TRUE(decoded);
  EXPECT_EQ(X509_verify(decoded.get(), key.get()), 1);
  OSSL_LIB_CTX* second = nullptr;
  std::thread([&] {
    X509Ptr again = DecodeCertificateDer(der);
    second = ThreadCertificateLibCtx();
    ASSERT_TRUE(again);
    EXPECT_EQ(X509_verify(again.get(), X509_get0_pubkey(decoded.get())), 1);
  }).join();
  EXPECT_EQ(second, first);  // the new thread was handed the ended thread's contexts
}

// Threads that set up their contexts at the same moment each get a working one (the first
// of them also builds the provider's decoder table).
TEST(CertificateContextScope, ThreadsStartingTogetherEachDecode) {
  EvpPkeyPtr key = Generate("EC");
  std::string der = Certificate(key.get(), key.get(), "together.test");
  constexpr int kThreads = 8;
  std::atomic<int> ready{0};
  std::atomic<int> verified{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();  // bounded: all start at once
      for (int n = 0; n < 20; ++n) {
        X509Ptr cert = DecodeCertificateDer(der);
        if (cert && X509_verify(cert.get(), key.get()) == 1) ++verified;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(verified.load(), kThreads * 20);
}

}  // namespace
}  // namespace certinbox::pipeline
