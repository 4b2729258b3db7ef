#include "storage/summary.h"

#include <openssl/evp.h>

#include <algorithm>
#include <ctime>

#include "base/time.h"
#include "base/wire.h"
#include "pipeline/export.h"

namespace certinbox::storage {

int64_t DaysLeft(base::UnixTime not_after, base::UnixTime now) {
  int64_t diff = not_after - now;
  int64_t days = diff / base::kSecondsPerDay;
  if (diff % base::kSecondsPerDay != 0 && diff < 0) --days;  // floor, not truncation
  return days;
}

std::string CertificatePem(std::string_view der) { return pipeline::PemEncode("CERTIFICATE", der); }

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json ParseJsonOr(const std::string& text, nlohmann::json fallback) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? fallback : parsed;
}

// An entry without a current version is a CSR waiting for its certificate (storage/csr.cc): the
// LEFT JOINs give it a row, described from its csrs row (subject, SANs, key).
const char* const kSummarySelect =
    "SELECT e.id, e.name, e.grp, e.kind, e.labels, v.version, v.fingerprint_sha256,"
    " COALESCE(v.subject, c.subject), v.issuer, COALESCE(v.sans, c.sans), v.not_before,"
    " v.not_after, COALESCE(v.key_id, c.key_id) IS NOT NULL, COALESCE(v.findings, '[]'),"
    " COALESCE(v.key_algorithm, c.key_algorithm), COALESCE(v.key_bits, c.key_bits), v.serial,"
    " COALESCE(v.chain, '[]'), v.signature_algorithm,"
    " (SELECT json_group_array(json_object('resource', b.resource, 'plugin', b.plugin))"
    "    FROM (SELECT resource, plugin FROM bindings WHERE entry_id = e.id ORDER BY resource) b)"
    " FROM entries e LEFT JOIN versions v ON v.id = e.current_version_id"
    " LEFT JOIN csrs c ON c.entry_id = e.id AND e.current_version_id IS NULL";

nlohmann::json SummaryFromRow(const sqlite::Statement& row, base::UnixTime now,
                              const ExpiryPolicy& expiry) {
  const auto array = nlohmann::json::array();
  return SummaryJson(
      SummaryFields{
          .id = row.Int(0),
          .name = row.Text(1),
          .group = row.Text(2),
          .kind = row.Text(3),
          .labels = ParseJsonOr(row.Text(4), array),
          .version = row.Int(5),
          .fingerprint_sha256 = row.Text(6),
          .subject = row.Text(7),
          .issuer = row.Text(8),
          .sans = ParseJsonOr(row.Text(9), array),
          .not_before = row.Int(10),
          .not_after = row.Int(11),
          .has_private_key = row.Int(12) != 0,
          .findings = ParseJsonOr(row.Text(13), array),
          .key_algorithm = row.Text(14),
          .key_bits = row.Int(15),
          .serial = row.Text(16),
          .chain = ParseJsonOr(row.Text(17), array),
          .signature_algorithm = row.Text(18),
          .bindings = ParseJsonOr(row.Text(19), array),
          .pre_activation = row.IsNull(5),
      },
      now, expiry);
}

nlohmann::json SummaryJson(SummaryFields f, base::UnixTime now, const ExpiryPolicy& expiry) {
  // Before the name and group move into the summary.
  ExpiryStatus status = StatusOf(expiry, f.group, f.name, f.not_before, f.not_after, now);
  nlohmann::json s = nlohmann::json::object();
  s[base::field::kId] = f.id;
  s[base::field::kName] = std::move(f.name);
  s[base::field::kGroup] = std::move(f.group);
  s[base::field::kKind] = std::move(f.kind);
  // Sorted however they were stored (a sidecar's are sorted on import, `meta` appends, `csr
  // create` keeps its order), so every summary lists them the same way.
  if (f.labels.is_array()) std::sort(f.labels.begin(), f.labels.end());
  s[base::field::kLabels] = std::move(f.labels);
  s[base::field::kStatus] = status.status;
  s[base::field::kExpiringReason] =
      status.reason ? nlohmann::json(std::move(*status.reason)) : nlohmann::json();
  s[base::field::kVersion] = f.version;
  s[base::field::kFingerprintSha256] = std::move(f.fingerprint_sha256);
  s[base::field::kSubject] = std::move(f.subject);
  s[base::field::kIssuer] = std::move(f.issuer);
  s[base::field::kSans] = std::move(f.sans);
  s[base::field::kNotBefore] = base::FormatRfc3339(f.not_before);
  s[base::field::kNotAfter] = base::FormatRfc3339(f.not_after);
  s[base::field::kDaysLeft] = DaysLeft(f.not_after, now);
  s[base::field::kHasPrivateKey] = f.has_private_key;
  s[base::field::kFindings] = std::move(f.findings);
  s[base::field::kKeyAlgorithm] = std::move(f.key_algorithm);
  s[base::field::kKeyBits] = f.key_bits;
  s[base::field::kSerial] = std::move(f.serial);
  s[base::field::kChain] = std::move(f.chain);
  s[base::field::kSignatureAlgorithm] = std::move(f.signature_algorithm);
  s[base::field::kBindings] = std::move(f.bindings);
  if (f.pre_activation) {
    // No certificate yet: nothing of one is made up (version 0, certificate fields null).
    s[base::field::kStatus] = "pre_activation";
    s[base::field::kExpiringReason] = nullptr;
    s[base::field::kVersion] = 0;
    for (const char* field :
         {base::field::kFingerprintSha256, base::field::kIssuer, base::field::kNotBefore,
          base::field::kNotAfter, base::field::kDaysLeft, base::field::kSerial,
          base::field::kSignatureAlgorithm}) {
      s[field] = nullptr;
    }
  }
  return s;
}

}  // namespace certinbox::storage
