// No private key byte reaches the disk in clear: the database, its WAL and its shared-memory
// file hold only sealed keys.
#include <gtest/gtest.h>
#include <openssl/core_names.h>

#include <fstream>
#include <iterator>

#include "tests/storage/drop_fixture.h"

namespace certinbox::storage {
namespace {

using test::Drop;
using testing::Issue;
using testing::Issued;

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The secret half of a key, big-endian: the EC scalar or the RSA private exponent. Unlike the
// whole PKCS#8 (which also embeds the public key, stored in the clear inside the certificate),
// none of it may appear anywhere.
std::string PrivateScalar(EVP_PKEY* key) {
  BIGNUM* bn = nullptr;
  const char* param = EVP_PKEY_is_a(key, "RSA") ? OSSL_PKEY_PARAM_RSA_D : OSSL_PKEY_PARAM_PRIV_KEY;
  if (EVP_PKEY_get_bn_param(key, param, &bn) != 1) return {};
  // An EC scalar is stored at the curve's full width: one with leading zero bytes (1 key in
  // 256) is padded, as in the PKCS#8 DER.
  const int width = EVP_PKEY_is_a(key, "RSA") ? BN_num_bytes(bn) : (EVP_PKEY_get_bits(key) + 7) / 8;
  std::string bytes(static_cast<size_t>(width), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(bytes.data()), width);
  BN_clear_free(bn);
  return bytes;
}

struct Secret {
  std::string pkcs8_der;
  std::string window;  // 32 bytes of the private scalar, as found inside the PKCS#8 DER
};

Secret SecretOf(const Issued& issued) {
  Secret s;
  s.pkcs8_der = testing::KeyPkcs8Der(issued.key.get());
  std::string scalar = PrivateScalar(issued.key.get());
  s.window = scalar.substr(0, 32);
  return s;
}

// Which of `secrets` occur in `haystack` ("" when none).
std::string FindSecrets(const std::string& haystack, const std::vector<Secret>& secrets) {
  std::string found;
  for (size_t i = 0; i < secrets.size(); ++i) {
    if (haystack.find(secrets[i].pkcs8_der) != std::string::npos) {
      found += " key " + std::to_string(i) + " (PKCS#8 DER)";
    }
    if (haystack.find(secrets[i].window) != std::string::npos) {
      found += " key " + std::to_string(i) + " (32-byte window)";
    }
  }
  return found;
}

class NoPlaintextTest : public test::InventoryTest {
 protected:
  void ExpectNoSecretOnDisk(const std::vector<Secret>& secrets) {
    int scanned = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      const std::string name = entry.path().filename();
      if (name.rfind("inventory.db", 0) != 0) continue;  // inventory.db, -wal, -shm
      std::string bytes = ReadAll(entry.path());
      EXPECT_EQ(FindSecrets(bytes, secrets), "") << "in " << name;
      ++scanned;
    }
    EXPECT_GE(scanned, 1);
  }
};

TEST_F(NoPlaintextTest, ScannerFindsPlantedKeys) {
  // The scanner itself can fail: a planted key and a planted window are found.
  Issued leaf = Issue(test::Leaf("planted.example"));
  Secret secret = SecretOf(leaf);
  ASSERT_EQ(secret.window.size(), 32u);
  ASSERT_NE(secret.pkcs8_der.find(secret.window), std::string::npos);
  EXPECT_NE(FindSecrets("xx" + secret.pkcs8_der + "yy", {secret}), "");
  EXPECT_NE(FindSecrets("xx" + secret.window + "yy", {secret}), "");
  EXPECT_EQ(FindSecrets(std::string(4096, 'x'), {secret}), "");
}

TEST_F(NoPlaintextTest, KeysAreOnlyStoredSealed) {
  std::vector<Secret> secrets;
  // A matched EC key, a matched RSA key, a waiting key, and a key that completes a stored cert.
  testing::CertSpec rsa = test::Leaf("rsa.example");
  rsa.key_type = testing::KeyType::kRsa2048;
  Issued ec_leaf = Issue(test::Leaf("ec.example"));
  Issued rsa_leaf = Issue(rsa);
  Issued waiting = Issue(test::Leaf("waiting.example"));
  Issued late = Issue(test::Leaf("late.example"));
  for (const Issued* i : {&ec_leaf, &rsa_leaf, &waiting, &late}) secrets.push_back(SecretOf(*i));
  for (const Secret& s : secrets) ASSERT_EQ(s.window.size(), 32u);

  Drop a, b, c, d, e;
  a.Cert(ec_leaf, true);
  b.Cert(rsa_leaf, true);
  c.Key(waiting);
  d.Cert(late);
  e.Key(late);
  for (Drop* drop : {&a, &b, &c, &d, &e}) MustImport(drop->Request("f.pem"));

  // Every key is stored and opens through the vault...
  for (const Issued* i : {&ec_leaf, &rsa_leaf, &waiting, &late}) {
    auto key = inventory_->PrivateKeyFor(i->SpkiFingerprint());
    ASSERT_TRUE(key) << key.error().message;
    EXPECT_EQ(key->view(), testing::KeyPkcs8Der(i->key.get()));
  }
  // ...yet neither the WAL (still holding the commits) nor the database has it in clear.
  ASSERT_TRUE(std::filesystem::exists(db_path().string() + "-wal"));
  ExpectNoSecretOnDisk(secrets);
  inventory_.reset();  // checkpoints the WAL into the database file
  ExpectNoSecretOnDisk(secrets);
}

}  // namespace
}  // namespace certinbox::storage
