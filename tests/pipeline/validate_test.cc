#include "pipeline/validate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "base/error.h"
#include "pipeline/parse.h"
#include "tests/testing/test_ca.h"

namespace certinbox::pipeline {
namespace {

using testing::CertSpec;
using testing::Digest;
using testing::Issued;
using testing::KeyType;
using testing::TestPki;
using Findings = std::vector<std::string>;

constexpr int64_t kDay = 86400;

ParsedFile MustParse(const std::string& bytes) {
  auto parsed = ParseFile(bytes, {});
  if (!parsed) {
    ADD_FAILURE() << parsed.error().code << ": " << parsed.error().message;
    return {};
  }
  return std::move(*parsed);
}

std::string Pem(std::initializer_list<const Issued*> certs) { return testing::CertsPem(certs); }

class ValidateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new TestPki(TestPki::Make()); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  static const TestPki& pki() { return *pki_; }

  // No system store: the tests decide what is trusted.
  std::shared_ptr<const TrustContext> NoTrust() { return TrustContext::Create({}, false); }

  Validation MustValidate(const ParsedFile& file, const TrustContext& trust,
                          bool accept_expired = false) {
    auto result = Validate(file, trust, {.now = now_, .accept_expired = accept_expired});
    if (!result) {
      ADD_FAILURE() << result.error().code << ": " << result.error().message;
      return {};
    }
    EXPECT_EQ(result->certificates.size(), file.certificates.size());
    return std::move(*result);
  }

  base::Error MustReject(const ParsedFile& file, const TrustContext& trust) {
    auto result = Validate(file, trust, {.now = now_});
    if (result) {
      ADD_FAILURE() << "validated, expected a rejection";
      return {};
    }
    return result.error();
  }

  int64_t now_ = testing::NowUnix();

 private:
  static TestPki* pki_;
};

TestPki* ValidateTest::pki_ = nullptr;

TEST_F(ValidateTest, WholeChainInOneDropEndsAtUntrustedRoot) {
  ParsedFile file = MustParse(pki().ChainPem());
  Validation v = MustValidate(file, *NoTrust());
  ASSERT_EQ(v.certificates.size(), 3u);
  EXPECT_EQ(v.certificates[0].index, 0u);
  EXPECT_EQ(v.certificates[0].findings, Findings{kUntrustedRoot});
  EXPECT_EQ(v.certificates[0].chain,
            (Findings{pki().intermediate.Fingerprint(), pki().root.Fingerprint()}));
  EXPECT_EQ(v.certificates[1].findings, Findings{kUntrustedRoot});
  EXPECT_EQ(v.certificates[1].chain, Findings{pki().root.Fingerprint()});
  // The root itself: self-signed is all there is to say about it.
  EXPECT_EQ(v.certificates[2].findings, Findings{kSelfSigned});
  EXPECT_TRUE(v.certificates[2].chain.empty());
  EXPECT_TRUE(v.unmatched_keys.empty());
}

TEST_F(ValidateTest, LeafAloneIsChainIncomplete) {
  Validation v = MustValidate(MustParse(pki().leaf.CertPem()), *NoTrust());
  ASSERT_EQ(v.certificates.size(), 1u);
  EXPECT_EQ(v.certificates[0].findings, Findings{kChainIncomplete});
  EXPECT_TRUE(v.certificates[0].chain.empty());

  Validation partial = MustValidate(MustParse(Pem({&pki().leaf, &pki().intermediate})), *NoTrust());
  EXPECT_EQ(partial.certificates[0].findings, Findings{kChainIncomplete});
  EXPECT_EQ(partial.certificates[0].chain, Findings{pki().intermediate.Fingerprint()});
}

TEST_F(ValidateTest, StoredCasCompleteTheChain) {
  auto stored = TrustContext::Create({pki().intermediate.CertDer(), pki().root.CertDer()}, false);
  Validation v = MustValidate(MustParse(pki().leaf.CertPem()), *stored);
  EXPECT_EQ(v.certificates[0].findings, Findings{kUntrustedRoot});
  EXPECT_EQ(v.certificates[0].chain,
            (Findings{pki().intermediate.Fingerprint(), pki().root.Fingerprint()}));
}

TEST_F(ValidateTest, AnchoredChainHasNoFindings) {
  auto trust = TrustContext::Create({pki().intermediate.CertDer()}, false, {pki().root.CertDer()});
  Validation v = MustValidate(MustParse(pki().leaf.CertPem() + pki().leaf.KeyPem()), *trust);
  EXPECT_TRUE(v.certificates[0].findings.empty());
  EXPECT_EQ(v.certificates[0].chain,
            (Findings{pki().intermediate.Fingerprint(), pki().root.Fingerprint()}));
  EXPECT_EQ(v.certificates[0].key_index, std::optional<size_t>(0));

  // A trusted root dropped on its own is not self_signed: it is an anchor.
  Validation root = MustValidate(MustParse(pki().root.CertPem()), *trust);
  EXPECT_TRUE(root.certificates[0].findings.empty());
}

TEST_F(ValidateTest, SystemStoreDoesNotTrustTestRoots) {
  auto system = TrustContext::Create({}, true);
  Validation v = MustValidate(MustParse(pki().ChainPem()), *system);
  EXPECT_EQ(v.certificates[0].findings, Findings{kUntrustedRoot});
}

TEST_F(ValidateTest, SelfSignedLeaf) {
  Issued self = testing::Issue(testing::LeafSpec("self.test"));
  Validation v = MustValidate(MustParse(self.CertPem() + self.KeyPem()), *NoTrust());
  EXPECT_EQ(v.certificates[0].findings, Findings{kSelfSigned});
  EXPECT_EQ(v.certificates[0].key_index, std::optional<size_t>(0));
}

TEST_F(ValidateTest, WeakSignatureOnLeafOrChainButNotOnAnchor) {
  CertSpec sha1_leaf = testing::LeafSpec("sha1.test");
  sha1_leaf.digest = Digest::kSha1;
  auto trust = TrustContext::Create({}, false, {pki().root.CertDer()});

  Issued leaf = testing::Issue(sha1_leaf, &pki().intermediate);
  Validation v = MustValidate(MustParse(Pem({&leaf, &pki().intermediate})), *trust);
  EXPECT_EQ(v.certificates[0].findings, Findings{kWeakSignature});
  EXPECT_TRUE(v.certificates[1].findings.empty());

  // A SHA-1 intermediate weakens the leaf under it.
  CertSpec ca = testing::CaSpec("SHA-1 Intermediate");
  ca.digest = Digest::kSha1;
  Issued weak_ca = testing::Issue(ca, &pki().root);
  Issued under = testing::Issue(testing::LeafSpec("under.test"), &weak_ca);
  Validation chained = MustValidate(MustParse(Pem({&under, &weak_ca})), *trust);
  EXPECT_EQ(chained.certificates[0].findings, Findings{kWeakSignature});

  // A SHA-1 self-signature on a trust anchor does not matter.
  CertSpec old_root_spec = testing::CaSpec("Old SHA-1 Root");
  old_root_spec.digest = Digest::kSha1;
  Issued old_root = testing::Issue(old_root_spec);
  Issued modern = testing::Issue(testing::LeafSpec("modern.test"), &old_root);
  auto old_trust = TrustContext::Create({}, false, {old_root.CertDer()});
  Validation anchored = MustValidate(MustParse(modern.CertPem()), *old_trust);
  EXPECT_TRUE(anchored.certificates[0].findings.empty());
  EXPECT_EQ(anchored.certificates[0].chain, Findings{old_root.Fingerprint()});
}

TEST_F(ValidateTest, WeakKeyAndSortedFindings) {
  CertSpec spec = testing::LeafSpec("weak.test");
  spec.key_type = KeyType::kRsa1024;
  spec.digest = Digest::kSha1;
  Issued weak = testing::Issue(spec);
  Validation v = MustValidate(MustParse(weak.CertPem()), *NoTrust());
  EXPECT_EQ(v.certificates[0].findings, (Findings{kSelfSigned, kWeakKey, kWeakSignature}));

  CertSpec rsa = testing::LeafSpec("rsa.test");
  rsa.key_type = KeyType::kRsa2048;
  Issued strong = testing::Issue(rsa, &pki().intermediate);
  auto trust = TrustContext::Create({pki().intermediate.CertDer()}, false, {pki().root.CertDer()});
  EXPECT_TRUE(MustValidate(MustParse(strong.CertPem()), *trust).certificates[0].findings.empty());
}

TEST_F(ValidateTest, ExpiredIsRejectedUnlessAccepted) {
  CertSpec spec = testing::LeafSpec("old.test");
  spec.not_before = now_ - 400 * kDay;
  spec.not_after = now_ - 10 * kDay;
  Issued old = testing::Issue(spec, &pki().intermediate);
  ParsedFile file = MustParse(Pem({&old, &pki().intermediate, &pki().root}));

  base::Error error = MustReject(file, *NoTrust());
  EXPECT_EQ(error.code, "expired");
  EXPECT_NE(error.message.find("old.test"), std::string::npos) << error.message;

  Validation v = MustValidate(file, *NoTrust(), /*accept_expired=*/true);
  EXPECT_EQ(v.certificates[0].findings, (Findings{kExpiredFinding, kUntrustedRoot}));
  // OpenSSL's own time check did not stop the chain.
  EXPECT_EQ(v.certificates[0].chain.size(), 2u);
}

TEST_F(ValidateTest, ExpiredIntermediateDoesNotBreakTheLeafsChain) {
  CertSpec ca = testing::CaSpec("Expired Intermediate");
  ca.not_before = now_ - 400 * kDay;
  ca.not_after = now_ - kDay;
  Issued old_ca = testing::Issue(ca, &pki().root);
  Issued leaf = testing::Issue(testing::LeafSpec("fresh.test"), &old_ca);
  auto trust = TrustContext::Create({old_ca.CertDer()}, false, {pki().root.CertDer()});
  Validation v = MustValidate(MustParse(leaf.CertPem()), *trust);
  EXPECT_TRUE(v.certificates[0].findings.empty());
  EXPECT_EQ(v.certificates[0].chain, (Findings{old_ca.Fingerprint(), pki().root.Fingerprint()}));
}

TEST_F(ValidateTest, NotYetValid) {
  CertSpec spec = testing::LeafSpec("future.test");
  spec.not_before = now_ + 10 * kDay;
  spec.not_after = now_ + 100 * kDay;
  Issued future = testing::Issue(spec, &pki().intermediate);
  Validation v =
      MustValidate(MustParse(Pem({&future, &pki().intermediate, &pki().root})), *NoTrust());
  EXPECT_EQ(v.certificates[0].findings, (Findings{kNotYetValid, kUntrustedRoot}));
}

TEST_F(ValidateTest, KeysArePairedByPublicKey) {
  ParsedFile file = MustParse(pki().ChainPem() + pki().leaf.KeyPem());
  Validation v = MustValidate(file, *NoTrust());
  EXPECT_EQ(v.certificates[0].key_index, std::optional<size_t>(0));
  EXPECT_FALSE(v.certificates[1].key_index);
  EXPECT_FALSE(v.certificates[2].key_index);
  EXPECT_TRUE(v.unmatched_keys.empty());
}

TEST_F(ValidateTest, OnlyKeysAreUnmatched) {
  EvpPkeyPtr other = testing::MakeKey();
  ParsedFile file = MustParse(pki().leaf.KeyPem() + testing::KeyPkcs8Pem(other.get()));
  Validation v = MustValidate(file, *NoTrust());
  EXPECT_TRUE(v.certificates.empty());
  EXPECT_EQ(v.unmatched_keys, (std::vector<size_t>{0, 1}));
}

TEST_F(ValidateTest, RejectionsTable) {
  EvpPkeyPtr stranger = testing::MakeKey();
  std::string tampered = pki().leaf.CertDer();
  tampered.back() ^= 0x01;  // the last byte of the signature
  const unsigned char* der = reinterpret_cast<const unsigned char*>(tampered.data());
  Issued tampered_leaf(X509Ptr(d2i_X509(nullptr, &der, static_cast<long>(tampered.size()))),
                       nullptr);
  ASSERT_TRUE(tampered_leaf.cert);
  Issued self = testing::Issue(testing::LeafSpec("self.test"));
  std::string tampered_self = self.CertDer();
  tampered_self.back() ^= 0x01;
  CertSpec expired = testing::LeafSpec("gone.test");
  expired.not_before = now_ - 100 * kDay;
  expired.not_after = now_ - kDay;
  Issued gone = testing::Issue(expired);

  struct Case {
    std::string name;
    std::string bytes;
    std::string code;
  };
  std::vector<Case> table = {
      {"key of another certificate", pki().leaf.CertPem() + testing::KeyPkcs8Pem(stranger.get()),
       "key_mismatch"},
      {"matching key plus a stray one",
       pki().leaf.CertPem() + pki().leaf.KeyPem() + testing::KeyPkcs8Pem(stranger.get()),
       "key_mismatch"},
      {"key of the issuer, not the leaf", pki().leaf.CertPem() + pki().intermediate.KeyPem(),
       "key_mismatch"},
      {"expired", gone.CertPem(), "expired"},
      {"tampered signature", Pem({&tampered_leaf, &pki().intermediate}), "bad_signature"},
      {"tampered self-signature", tampered_self, "bad_signature"},
  };
  for (const Case& c : table) {
    SCOPED_TRACE(c.name);
    ParsedFile file = MustParse(c.bytes);
    ASSERT_FALSE(file.certificates.empty());
    base::Error error = MustReject(file, *NoTrust());
    EXPECT_EQ(error.code, c.code) << error.message;
    EXPECT_FALSE(error.message.empty());
  }
}

TEST_F(ValidateTest, RememberedSignaturesDoNotHideATamperedCopy) {
  auto trust = TrustContext::Create({pki().intermediate.CertDer()}, false, {pki().root.CertDer()});
  ASSERT_TRUE(
      MustValidate(MustParse(pki().leaf.CertPem()), *trust).certificates[0].findings.empty());
  std::string tampered = pki().leaf.CertDer();
  tampered[tampered.size() - 2] ^= 0x10;
  ParsedFile file = MustParse(tampered);
  ASSERT_EQ(file.certificates.size(), 1u);
  EXPECT_EQ(MustReject(file, *trust).code, "bad_signature");
}

TEST_F(ValidateTest, SharedTrustContextAcrossThreads) {
  auto trust = TrustContext::Create({pki().intermediate.CertDer()}, false, {pki().root.CertDer()});
  ParsedFile file = MustParse(pki().leaf.CertPem() + pki().leaf.KeyPem());
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto v = Validate(file, *trust, {.now = now_});
        if (v && v->certificates.size() == 1 && v->certificates[0].findings.empty() &&
            v->certificates[0].chain.size() == 2) {
          ++good;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(good.load(), 100);
}

}  // namespace
}  // namespace certinbox::pipeline
