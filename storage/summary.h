// The certificate summary (docs/events.md): one SELECT column list and the JSON built
// from it, shared by events, `ls` and `show`. Internal to storage/.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/time.h"
#include "pipeline/types.h"
#include "storage/expiry_policy.h"
#include "storage/sqlite.h"

namespace certinbox::storage {

// floor((not_after - now) / 86400): negative once expired.
int64_t DaysLeft(base::UnixTime not_after, base::UnixTime now);

// Serializes without throwing on invalid UTF-8 (subjects come from untrusted certificates).
std::string DumpJson(const nlohmann::json& value);
// Parses stored JSON; `fallback` when the text is not JSON (never throws).
nlohmann::json ParseJsonOr(const std::string& text, nlohmann::json fallback);

// "-----BEGIN CERTIFICATE-----\n" + base64 in 64-column lines + "-----END CERTIFICATE-----\n".
std::string CertificatePem(std::string_view der);

// "SELECT <summary columns> FROM entries e LEFT JOIN versions v ON v.id = e.current_version_id
// LEFT JOIN csrs c ..." (append WHERE/ORDER BY; a condition on v.* leaves out CSR entries).
// Column 0 is e.id; SummaryFromRow reads the rest.
extern const char* const kSummarySelect;
// The number of columns kSummarySelect yields; extra columns may follow from this index on.
inline constexpr int kSummaryColumnCount = 20;

nlohmann::json SummaryFromRow(const sqlite::Statement& row, base::UnixTime now,
                              const ExpiryPolicy& expiry);

// What a summary holds besides the fields derived from `now` (status, expiring_reason, days_left).
// The JSON members are arrays as stored: labels, sans ("DNS:..."), findings, chain, bindings.
struct SummaryFields {
  int64_t id = 0;
  std::string name, group, kind;
  nlohmann::json labels = nlohmann::json::array();
  int64_t version = 0;
  std::string fingerprint_sha256, subject, issuer;
  nlohmann::json sans = nlohmann::json::array();
  base::UnixTime not_before = 0, not_after = 0;
  bool has_private_key = false;
  nlohmann::json findings = nlohmann::json::array();
  std::string key_algorithm;
  int64_t key_bits = 0;
  std::string serial;
  nlohmann::json chain = nlohmann::json::array();
  std::string signature_algorithm;
  nlohmann::json bindings = nlohmann::json::array();
  // A CSR entry without a certificate: status pre_activation, version 0, fingerprint, issuer,
  // serial, signature algorithm, dates and days_left null; subject, SANs and key from the CSR.
  bool pre_activation = false;
};

// The summary SummaryFromRow gives for a row holding these values. Lets a writer that has just
// stored an entry describe it without reading it back.
nlohmann::json SummaryJson(SummaryFields fields, base::UnixTime now, const ExpiryPolicy& expiry);

}  // namespace certinbox::storage
