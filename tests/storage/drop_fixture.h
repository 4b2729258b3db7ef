// Test helpers for storage: a temporary state folder, an open Inventory, and drops (ParsedFile +
// Validation) built from the test CA by hand, so storage tests do not depend on the parser.
#pragma once

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/time.h"
#include "storage/inventory.h"
#include "storage/vault.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"

namespace certinbox::storage::test {

// 2026-11-23T09:00:00Z: the "now" every storage test passes in.
inline constexpr base::UnixTime kNow = 1795424400;
inline constexpr int64_t kDay = 86400;

using testing::TempDir;  // a test's state folder

// A leaf that expires `days` days after kNow (negative: expired that long ago), valid since
// a day before kNow (or, for an expired one, since 30 days before it expired).
// The rules of an old config, in days: expiring_soon_days = `soon_days`, notify_days = `notify`.
// Storage tests run with expiring_soon_days = 90 and notify_days = [90, 30, 14, 7, 1] (the
// defaults before shares of the lifetime), which their certificates' dates were chosen for.
inline ExpiryPolicy DaysPolicy(int soon_days = 90,
                               const std::vector<int>& notify = {90, 30, 14, 7, 1}) {
  ExpiryPolicy policy;
  policy.defaults.expiring_soon = {.seconds = soon_days * kDay};
  policy.defaults.notify.clear();
  for (int d : notify) {
    if (d > 0) policy.defaults.notify.push_back({.seconds = d * kDay});
  }
  return policy;
}

inline testing::CertSpec Leaf(std::string cn, int64_t days = 365) {
  testing::CertSpec spec = testing::LeafSpec(std::move(cn));
  spec.not_after = kNow + days * kDay;
  spec.not_before = days > 0 ? kNow - kDay : *spec.not_after - 30 * kDay;
  return spec;
}

inline testing::CertSpec Ca(std::string cn) {
  testing::CertSpec spec = testing::CaSpec(std::move(cn));
  spec.not_before = kNow - kDay;
  spec.not_after = kNow + 3650 * kDay;
  return spec;
}

inline std::string NameLine(X509_NAME* name) {
  pipeline::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

inline base::UnixTime ToUnix(const ASN1_TIME* t) {
  std::tm tm{};
  ASN1_TIME_to_tm(t, &tm);
  return ::timegm(&tm);
}

// What DescribeCertificate would say, computed with plain OpenSSL calls.
inline pipeline::Certificate ToCertificate(const testing::Issued& issued,
                                           std::vector<std::string> sans) {
  X509* x = issued.cert.get();
  pipeline::Certificate c;
  X509_up_ref(x);
  c.x509.reset(x);
  c.der = issued.CertDer();
  pipeline::CertificateInfo& info = c.info;
  info.fingerprint_sha256 = issued.Fingerprint();
  info.spki_sha256 = issued.SpkiFingerprint();
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr);
  char* hex = BN_bn2hex(serial);
  info.serial = hex;
  OPENSSL_free(hex);
  BN_free(serial);
  info.subject = NameLine(X509_get_subject_name(x));
  info.issuer = NameLine(X509_get_issuer_name(x));
  char cn[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0) {
    info.subject_cn = cn;
  }
  info.sans = std::move(sans);
  info.not_before = ToUnix(X509_get0_notBefore(x));
  info.not_after = ToUnix(X509_get0_notAfter(x));
  info.key_algorithm = EVP_PKEY_get0_type_name(X509_get0_pubkey(x));
  info.key_bits = EVP_PKEY_get_bits(X509_get0_pubkey(x));
  info.exporter = pipeline::ExporterNamesOf(x);
  info.signature_algorithm = OBJ_nid2ln(X509_get_signature_nid(x));
  info.is_ca = X509_check_ca(x) == 1;
  info.self_issued = info.subject == info.issuer;
  return c;
}

inline pipeline::PrivateKey ToPrivateKey(const testing::Issued& issued) {
  pipeline::PrivateKey k;
  EVP_PKEY_up_ref(issued.key.get());
  k.pkey.reset(issued.key.get());
  k.spki_sha256 = issued.SpkiFingerprint();
  k.algorithm = EVP_PKEY_get0_type_name(issued.key.get());
  k.bits = EVP_PKEY_get_bits(issued.key.get());
  k.pkcs8_der = pipeline::SecretBytes(testing::KeyPkcs8Der(issued.key.get()));
  return k;
}

// One dropped file: certificates and keys, and the validation the pipeline would give it.
struct Drop {
  pipeline::ParsedFile parsed;
  pipeline::Validation validation;

  // Adds a certificate; its key is paired when `with_key`.
  Drop& Cert(const testing::Issued& issued, bool with_key = false,
             std::vector<std::string> findings = {}, std::vector<std::string> chain = {}) {
    std::vector<std::string> sans;
    if (!issued.cert) return *this;
    char cn[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(issued.cert.get()), NID_commonName, cn,
                                  sizeof cn) > 0) {
      sans.push_back(std::string("DNS:") + cn);
    }
    parsed.certificates.push_back(ToCertificate(issued, std::move(sans)));
    pipeline::ValidatedCertificate vc;
    vc.index = parsed.certificates.size() - 1;
    vc.findings = std::move(findings);
    vc.chain = std::move(chain);
    if (with_key) {
      parsed.keys.push_back(ToPrivateKey(issued));
      vc.key_index = parsed.keys.size() - 1;
    }
    validation.certificates.push_back(std::move(vc));
    return *this;
  }

  // Adds a key with no certificate in this drop.
  Drop& Key(const testing::Issued& issued) {
    parsed.keys.push_back(ToPrivateKey(issued));
    validation.unmatched_keys.push_back(parsed.keys.size() - 1);
    return *this;
  }

  pipeline::CertificateInfo& LastInfo() { return parsed.certificates.back().info; }

  ImportRequest Request(std::string file, DropMetadata meta = {}, base::UnixTime now = kNow) const {
    ImportRequest r;
    r.inbox = "main";
    r.file = std::move(file);
    r.file_sha256 = testing::Sha256Hex(r.file);
    r.meta = std::move(meta);
    r.parsed = &parsed;
    r.validation = &validation;
    r.now = now;
    return r;
  }
};

inline DropMetadata Named(std::string name, std::string group = "default") {
  DropMetadata meta;
  meta.name = std::move(name);
  meta.group = std::move(group);
  return meta;
}

inline nlohmann::json Payload(const Event& event) { return nlohmann::json::parse(event.json); }

// The expiry scan with thresholds in days, as an old config's notify_days = [...] ("30d", ...);
// the inventory keeps those thresholds for its later scans.
inline base::Result<std::vector<Event>> ScanExpiryDays(Inventory& inventory,
                                                       const std::vector<int>& days,
                                                       base::UnixTime now) {
  InventoryOptions options = inventory.options();
  options.expiry.defaults.notify = DaysPolicy(90, days).defaults.notify;
  inventory.SetOptions(std::move(options));
  return inventory.ScanExpiry(now);
}

// A temporary state folder with an open inventory.
class InventoryTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    inventory_.reset();
    auto vault = Vault::OpenOrCreate(dir_.path() / "master.key");
    ASSERT_TRUE(vault) << vault.error().code << ": " << vault.error().message;
    auto inventory =
        Inventory::Open(db_path(), std::move(*vault), InventoryOptions{.expiry = DaysPolicy()});
    ASSERT_TRUE(inventory) << inventory.error().code << ": " << inventory.error().message;
    inventory_ = std::move(*inventory);
  }

  std::filesystem::path db_path() const { return dir_.path() / "inventory.db"; }

  ImportOutcome MustImport(const ImportRequest& request) {
    auto outcome = inventory_->Import(request);
    EXPECT_TRUE(outcome) << outcome.error().code << ": " << outcome.error().message;
    return outcome ? std::move(*outcome) : ImportOutcome{};
  }

  nlohmann::json MustList(const ListFilter& filter = {}) {
    auto list = inventory_->List(filter, kNow);
    EXPECT_TRUE(list) << list.error().code << ": " << list.error().message;
    return list ? *list : nlohmann::json::array();
  }

  TempDir dir_;
  std::unique_ptr<Inventory> inventory_;
};

}  // namespace certinbox::storage::test
