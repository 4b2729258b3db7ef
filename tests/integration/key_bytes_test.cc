// Private keys never reach the SQLite file or its WAL in the clear.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/files.h"
#include "tests/testing/test_ca.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Every window of `width` bytes of `secret`, at a stride, must be absent from `haystack`.
bool ContainsAnyWindow(const std::string& haystack, const std::string& secret, size_t width) {
  if (secret.size() <= width) return haystack.find(secret) != std::string::npos;
  for (size_t at = 0; at + width <= secret.size(); at += width / 2) {
    if (haystack.find(secret.substr(at, width)) != std::string::npos) return true;
  }
  return false;
}

// The secret numbers of a key (EC: the private scalar; RSA: d, p, q), big-endian: what must
// never be stored in the clear, whatever the encoding around it.
std::vector<std::string> SecretParts(EVP_PKEY* key) {
  std::vector<std::string> parts;
  const char* names[] = {OSSL_PKEY_PARAM_PRIV_KEY, OSSL_PKEY_PARAM_RSA_D,
                         OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2};
  for (const char* name : names) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) continue;
    std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_clear_free(bn);
    parts.push_back(bytes);
  }
  return parts;
}

TEST(KeyBytesTest, DatabaseAndWalHoldNoPrivateKeyBytes) {
  CertSpec rsa_spec = LeafSpec("rsa.keys.test");
  rsa_spec.key_type = KeyType::kRsa2048;
  TestPki rsa = TestPki::Make(rsa_spec);
  TestPki ec = TestPki::Make(LeafSpec("ec.keys.test"));
  TestPki waiting = TestPki::Make(LeafSpec("waiting.keys.test"));

  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("rsa.pem", rsa.leaf.CertPem() + rsa.leaf.KeyPem());
  daemon.Drop("ec.p12", MakePkcs12(ec.leaf, {}, std::nullopt));
  daemon.Drop("waiting.key", waiting.leaf.KeyPem());  // no certificate: waits, sealed
  daemon.WaitForEvents([&](const std::vector<json>&) {
    json ls = daemon.LsJson();
    return ls["entries"].size() == 2 && ls["unmatched_keys"].size() == 1;
  });
  json ls = daemon.LsJson();
  ASSERT_EQ(ls["entries"].size(), 2u) << daemon.log();
  ASSERT_EQ(ls["unmatched_keys"].size(), 1u);

  // SIGKILL: nothing gets checkpointed or cleaned up on the way out, the WAL stays as it is.
  daemon.Stop(SIGKILL);
  fs::path db = daemon.state() / "certinbox.db";
  std::string stored =
      ReadFile(db) + ReadFile(db.string() + "-wal") + ReadFile(db.string() + "-shm");
  ASSERT_GT(stored.size(), 0u);

  // The check can fail: the certificates themselves are stored in the clear, and are found.
  EXPECT_TRUE(ContainsAnyWindow(stored, rsa.leaf.CertDer(), 32));
  EXPECT_TRUE(ContainsAnyWindow(stored, ec.leaf.CertDer(), 32));

  for (const Issued* issued : {&rsa.leaf, &ec.leaf, &waiting.leaf}) {
    auto parts = SecretParts(issued->key.get());
    ASSERT_FALSE(parts.empty());
    for (const auto& part : parts) {
      EXPECT_FALSE(ContainsAnyWindow(stored, part, 16))
          << "private key bytes found in the database";
    }
    EXPECT_EQ(stored.find(KeyPkcs8Der(issued->key.get())), std::string::npos);
    EXPECT_EQ(stored.find(issued->KeyPem()), std::string::npos);
  }
}

}  // namespace
}  // namespace certinbox::testing
