// pipeline/csr.h and pipeline/export.h: CSRs of every key type, SANs of every kind, bad input
// by reason code, and PKCS#12 bundles that open with their password.
#include "pipeline/csr.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pipeline/describe.h"
#include "pipeline/export.h"
#include "tests/testing/test_ca.h"

namespace certinbox::pipeline {
namespace {

X509ReqPtr DecodeReq(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509ReqPtr(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
}

std::vector<std::string> SansOf(X509_REQ* req) {
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  std::vector<std::string> out;
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext));
    out = DescribeGeneralNames(names);
    GENERAL_NAMES_free(names);
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return out;
}

GeneratedCsr MustGenerate(CsrSpec spec) {
  auto checked = CheckCsrSpec(std::move(spec));
  EXPECT_TRUE(checked) << checked.error().code << ": " << checked.error().message;
  if (!checked) return {};
  auto csr = GenerateCsr(*checked);
  EXPECT_TRUE(csr) << csr.error().code << ": " << csr.error().message;
  return csr ? std::move(*csr) : GeneratedCsr{};
}

struct KeyTypeCase {
  const char* type;
  const char* algorithm;
  int bits;
};

void PrintTo(const KeyTypeCase& c, std::ostream* os) { *os << c.type; }

class CsrKeyTypeTest : public ::testing::TestWithParam<KeyTypeCase> {};

TEST_P(CsrKeyTypeTest, MakesASignedRequestWithAKeyOfThatType) {
  const KeyTypeCase& c = GetParam();
  GeneratedCsr csr = MustGenerate({.key_type = c.type, .common_name = "web.example"});
  X509ReqPtr req = DecodeReq(csr.der);
  ASSERT_TRUE(req);
  EXPECT_EQ(X509_REQ_verify(req.get(), X509_REQ_get0_pubkey(req.get())), 1);
  EXPECT_EQ(X509_REQ_get_signature_nid(req.get()), std::string(c.algorithm) == "RSA"
                                                       ? NID_sha256WithRSAEncryption
                                                       : NID_ecdsa_with_SHA256);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_REQ_get0_pubkey(req.get())), c.bits);
  EXPECT_EQ(csr.key.algorithm, c.algorithm);
  EXPECT_EQ(csr.key.bits, c.bits);
  // The key kept for the vault is the request's key.
  EXPECT_EQ(EVP_PKEY_eq(csr.key.pkey.get(), X509_REQ_get0_pubkey(req.get())), 1);
  EXPECT_FALSE(csr.key.pkcs8_der.empty());
  EXPECT_EQ(csr.key.spki_sha256.size(), 64u);
  EXPECT_TRUE(csr.pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
  EXPECT_EQ(CsrPem(csr.der), csr.pem);
}

INSTANTIATE_TEST_SUITE_P(EveryKeyType, CsrKeyTypeTest,
                         ::testing::Values(KeyTypeCase{"rsa-2048", "RSA", 2048},
                                           KeyTypeCase{"rsa-3072", "RSA", 3072},
                                           KeyTypeCase{"rsa-4096", "RSA", 4096},
                                           KeyTypeCase{"ec-p256", "EC", 256},
                                           KeyTypeCase{"ec-p384", "EC", 384}),
                         [](const auto& info) {
                           std::string name = info.param.type;
                           std::erase(name, '-');
                           return name;
                         });

TEST(CsrTest, DefaultKeyTypeIsRsa2048) {
  auto checked = CheckCsrSpec({.key_type = "", .common_name = "a.example"});
  ASSERT_TRUE(checked);
  EXPECT_EQ(checked->spec.key_type, "rsa-2048");
  EXPECT_EQ(CsrSpec{}.key_type, "rsa-2048");
}

TEST(CsrTest, SansOfEveryKindAndTheSubjectFields) {
  GeneratedCsr csr = MustGenerate({
      .key_type = "ec-p256",
      .common_name = "web.example",
      .sans = {"DNS:www.web.example", "IP:192.0.2.1", "ip:2001:DB8:0::1",
               "URI:spiffe://example.org/web", "email:ops@web.example", "bare.web.example",
               "DNS:www.web.example"},
      .organization = "Example Ltd",
      .organizational_unit = "Web",
      .locality = "Leeds",
      .state = "West Yorkshire",
      .country = "gb",
      .email = "pki@web.example",
  });
  const std::vector<std::string> expected = {
      "DNS:web.example",  // the CN, first
      "DNS:www.web.example",   "IP:192.0.2.1",
      "IP:2001:db8::1",        "URI:spiffe://example.org/web",
      "email:ops@web.example", "DNS:bare.web.example"};
  X509ReqPtr req = DecodeReq(csr.der);
  ASSERT_TRUE(req);
  EXPECT_EQ(SansOf(req.get()), expected);
  EXPECT_EQ(csr.sans, expected);
  EXPECT_EQ(csr.subject,
            "emailAddress=pki@web.example,CN=web.example,OU=Web,O=Example Ltd,L=Leeds,"
            "ST=West Yorkshire,C=GB");
  EXPECT_EQ(NameToString(X509_REQ_get_subject_name(req.get())), csr.subject);
  EXPECT_EQ(csr.subject_cn, "web.example");
}

TEST(CsrTest, CnIsLeftOutOfTheSansWhenAskedOrWhenNotAHostName) {
  GeneratedCsr off =
      MustGenerate({.key_type = "ec-p256", .common_name = "a.example", .cn_as_san = false});
  EXPECT_TRUE(off.sans.empty());
  EXPECT_TRUE(SansOf(DecodeReq(off.der).get()).empty());
  GeneratedCsr person = MustGenerate(
      {.key_type = "ec-p256", .common_name = "Payroll Service", .sans = {"pay.example"}});
  EXPECT_EQ(person.sans, std::vector<std::string>{"DNS:pay.example"});
}

TEST(CsrTest, BadInputIsRefusedWithItsCode) {
  struct Case {
    CsrSpec spec;
    const char* code;
  };
  const std::vector<Case> cases = {
      {{.key_type = "rsa-1024", .common_name = "a.example"}, "csr_bad_key_type"},
      {{.key_type = "ed25519", .common_name = "a.example"}, "csr_bad_key_type"},
      {{.common_name = ""}, "csr_bad_subject"},
      {{.common_name = std::string(65, 'a')}, "csr_bad_subject"},
      {{.common_name = "a\nb"}, "csr_bad_subject"},
      {{.common_name = "a.example", .country = "GBR"}, "csr_bad_subject"},
      {{.common_name = "a.example", .country = "1A"}, "csr_bad_subject"},
      {{.common_name = "a.example", .email = "nobody"}, "csr_bad_subject"},
      {{.common_name = "a.example", .sans = {"IP:192.0.2"}}, "csr_bad_san"},
      {{.common_name = "a.example", .sans = {"IP:2001:db8::g"}}, "csr_bad_san"},
      {{.common_name = "a.example", .sans = {"IP:"}}, "csr_bad_san"},
      {{.common_name = "a.example", .sans = {"DNS:has space.example"}}, "csr_bad_san"},
      {{.common_name = "a.example", .sans = {"URI:no-scheme"}}, "csr_bad_san"},
      {{.common_name = "a.example", .sans = {"email:nobody"}}, "csr_bad_san"},
      {{.common_name = "a.example", .sans = {"RID:1.2.3"}}, "csr_bad_san"},
      {{.common_name = "a.example", .sans = {""}}, "csr_bad_san"},
  };
  for (const Case& c : cases) {
    auto checked = CheckCsrSpec(c.spec);
    ASSERT_FALSE(checked) << "accepted: cn=" << c.spec.common_name;
    EXPECT_EQ(checked.error().code, c.code) << checked.error().message;
    EXPECT_FALSE(checked.error().message.empty());
  }
}

TEST(ExportTest, Pkcs12OpensWithItsPasswordOnly) {
  testing::TestPki pki = testing::TestPki::Make();
  std::string key_der = testing::KeyPkcs8Der(pki.leaf.key.get());
  auto p12 =
      BuildPkcs12(pki.leaf.CertDer(), {pki.intermediate.CertDer()}, key_der, "s3cret", "leaf");
  ASSERT_TRUE(p12) << p12.error().message;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(p12->data());
  Pkcs12Ptr parsed(d2i_PKCS12(nullptr, &p, static_cast<long>(p12->size())));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(PKCS12_verify_mac(parsed.get(), "wrong", -1), 0);
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* ca = nullptr;
  ASSERT_EQ(PKCS12_parse(parsed.get(), "s3cret", &key, &cert, &ca), 1);
  EXPECT_EQ(X509_cmp(cert, pki.leaf.cert.get()), 0);
  EXPECT_EQ(X509_check_private_key(cert, key), 1);
  ASSERT_EQ(sk_X509_num(ca), 1);
  EXPECT_EQ(X509_cmp(sk_X509_value(ca, 0), pki.intermediate.cert.get()), 0);
  EVP_PKEY_free(key);
  X509_free(cert);
  sk_X509_pop_free(ca, X509_free);
  ERR_clear_error();
}

TEST(ExportTest, Pkcs12RefusesAKeyOfAnotherCertificate) {
  testing::TestPki pki = testing::TestPki::Make();
  std::string other_key = testing::KeyPkcs8Der(pki.root.key.get());
  auto p12 = BuildPkcs12(pki.leaf.CertDer(), {}, other_key, "pw", "leaf");
  ASSERT_FALSE(p12);
  EXPECT_EQ(p12.error().code, "pkcs12_build_failed");
}

TEST(ExportTest, PrivateKeyPemReadsBackAsTheSameKey) {
  testing::Issued leaf = testing::Issue(testing::LeafSpec("k.example"));
  SecretBytes pem = PrivateKeyPem(testing::KeyPkcs8Der(leaf.key.get()));
  EXPECT_EQ(std::string(pem.view()), leaf.KeyPem());
}

}  // namespace
}  // namespace certinbox::pipeline
