// The test CA is what every other test trusts, so it gets its own checks against OpenSSL.
#include "tests/testing/test_ca.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

namespace certinbox::testing {
namespace {

using pipeline::EvpPkeyPtr;

TEST(TestCaTest, PkiChainVerifiesWithOpenssl) {
  TestPki pki = TestPki::Make();
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, pki.root.cert.get());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  sk_X509_push(untrusted, pki.intermediate.cert.get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, pki.leaf.cert.get(), untrusted);
  EXPECT_EQ(X509_verify_cert(ctx), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  X509_STORE_free(store);

  EXPECT_EQ(X509_check_ca(pki.root.cert.get()), 1);
  EXPECT_EQ(X509_check_ca(pki.leaf.cert.get()), 0);
  EXPECT_EQ(X509_check_private_key(pki.leaf.cert.get(), pki.leaf.key.get()), 1);
}

TEST(TestCaTest, SpecIsHonoured) {
  CertSpec spec = LeafSpec("spec.test");
  spec.serial = 4242;
  spec.not_before = 1600000000;
  spec.not_after = 1700000000;
  spec.key_type = KeyType::kRsa1024;
  spec.digest = Digest::kSha1;
  Issued cert = Issue(spec);
  EXPECT_EQ(ASN1_INTEGER_get(X509_get0_serialNumber(cert.cert.get())), 4242);
  EXPECT_EQ(X509_get_signature_nid(cert.cert.get()), NID_sha1WithRSAEncryption);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(cert.cert.get())), 1024);
  int day = 0, sec = 0;
  ASN1_TIME* epoch = ASN1_TIME_set(nullptr, 1600000000);
  ASSERT_EQ(ASN1_TIME_diff(&day, &sec, epoch, X509_get0_notAfter(cert.cert.get())), 1);
  EXPECT_EQ(day * 86400 + sec, 100000000);
  ASN1_TIME_free(epoch);
}

TEST(TestCaTest, FingerprintsAndCopies) {
  Issued cert = Issue(LeafSpec("fp.test"));
  EXPECT_EQ(cert.Fingerprint(), Sha256Hex(cert.CertDer()));
  EXPECT_EQ(cert.Fingerprint().size(), 64u);
  Issued copy = cert;
  EXPECT_EQ(copy.cert.get(), cert.cert.get());
  EXPECT_EQ(copy.Fingerprint(), cert.Fingerprint());
  Issued same_key = Issue(LeafSpec("renewed.test"), nullptr, cert.key.get());
  EXPECT_EQ(same_key.SpkiFingerprint(), cert.SpkiFingerprint());
  EXPECT_NE(same_key.Fingerprint(), cert.Fingerprint());
}

TEST(TestCaTest, Pkcs12OpensWithOpenssl) {
  TestPki pki = TestPki::Make();
  for (Pkcs12Cipher cipher : {Pkcs12Cipher::kAes256, Pkcs12Cipher::kLegacy}) {
    if (cipher == Pkcs12Cipher::kLegacy && !pipeline::LoadOpensslProviders()) continue;
    std::string der = MakePkcs12(pki.leaf, {&pki.intermediate}, "pw", cipher);
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    PKCS12* p12 = d2i_PKCS12(nullptr, &p, static_cast<long>(der.size()));
    ASSERT_NE(p12, nullptr);
    EVP_PKEY* key = nullptr;
    X509* cert = nullptr;
    STACK_OF(X509)* ca = nullptr;
    EXPECT_EQ(PKCS12_parse(p12, "pw", &key, &cert, &ca), 1);
    EXPECT_EQ(EVP_PKEY_eq(key, pki.leaf.key.get()), 1);
    EXPECT_EQ(Sha256Fingerprint(cert), pki.leaf.Fingerprint());
    EXPECT_EQ(sk_X509_num(ca), 1);
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(ca, X509_free);
    PKCS12_free(p12);
  }
}

TEST(TestCaTest, PemLabels) {
  EvpPkeyPtr rsa = MakeKey(KeyType::kRsa2048);
  EvpPkeyPtr ec = MakeKey();
  EXPECT_TRUE(KeyPkcs8Pem(ec.get()).starts_with("-----BEGIN PRIVATE KEY-----"));
  EXPECT_TRUE(KeyPkcs1Pem(rsa.get()).starts_with("-----BEGIN RSA PRIVATE KEY-----"));
  EXPECT_TRUE(KeySec1Pem(ec.get()).starts_with("-----BEGIN EC PRIVATE KEY-----"));
  EXPECT_TRUE(
      KeyEncryptedPkcs8Pem(ec.get(), "x").starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
  EXPECT_NE(KeyLegacyEncryptedPem(rsa.get(), "x").find("Proc-Type: 4,ENCRYPTED"),
            std::string::npos);
  EXPECT_TRUE(Pkcs7Pem({}).starts_with("-----BEGIN PKCS7-----"));
  EXPECT_TRUE(MakeCsr().Pem().starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
  EXPECT_THROW(KeySec1Pem(rsa.get()), std::runtime_error);
}

}  // namespace
}  // namespace certinbox::testing
