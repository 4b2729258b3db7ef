#include "storage/summary.h"

#include <openssl/evp.h>

#include <algorithm>
#include <ctime>

namespace certinbox::storage {

std::string Rfc3339(pipeline::UnixTime t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  char buf[64];
  if (gmtime_r(&tt, &tm) == nullptr ||
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return "1970-01-01T00:00:00Z";  // only for times no certificate can carry
  }
  return buf;
}

int64_t DaysLeft(pipeline::UnixTime not_after, pipeline::UnixTime now) {
  constexpr int64_t kDay = 86400;
  int64_t diff = not_after - now;
  int64_t days = diff / kDay;
  if (diff % kDay != 0 && diff < 0) --days;  // floor, not truncation
  return days;
}

std::string_view Status(pipeline::UnixTime not_after, pipeline::UnixTime now,
                        int expiring_soon_days) {
  if (now >= not_after) return "expired";
  if (not_after - now < static_cast<int64_t>(expiring_soon_days) * 86400) return "expiring_soon";
  return "valid";
}

std::string CertificatePem(std::string_view der) {
  std::string out = "-----BEGIN CERTIFICATE-----\n";
  constexpr size_t kLineBytes = 48;  // 48 bytes become one 64-column line of base64
  unsigned char line[65];
  for (size_t at = 0; at < der.size(); at += kLineBytes) {
    size_t n = std::min(kLineBytes, der.size() - at);
    int written = EVP_EncodeBlock(line, reinterpret_cast<const unsigned char*>(der.data() + at),
                                  static_cast<int>(n));
    out.append(reinterpret_cast<const char*>(line), static_cast<size_t>(written));
    out += '\n';
  }
  return out + "-----END CERTIFICATE-----\n";
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json ParseJsonOr(const std::string& text, nlohmann::json fallback) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? fallback : parsed;
}

const char* const kSummarySelect =
    "SELECT e.id, e.name, e.grp, e.kind, e.labels, v.version, v.fingerprint_sha256, v.subject,"
    " v.issuer, v.sans, v.not_before, v.not_after, v.key_id IS NOT NULL, v.findings,"
    " v.key_algorithm, v.key_bits, v.serial, v.chain, v.signature_algorithm,"
    " (SELECT json_group_array(json_object('resource', b.resource, 'plugin', b.plugin))"
    "    FROM bindings b WHERE b.entry_id = e.id)"
    " FROM entries e JOIN versions v ON v.id = e.current_version_id";

nlohmann::json SummaryFromRow(const sqlite::Statement& row, pipeline::UnixTime now,
                              int expiring_soon_days) {
  const auto array = nlohmann::json::array();
  const int64_t not_after = row.Int(11);
  nlohmann::json s = nlohmann::json::object();
  s["id"] = row.Int(0);
  s["name"] = row.Text(1);
  s["group"] = row.Text(2);
  s["kind"] = row.Text(3);
  s["labels"] = ParseJsonOr(row.Text(4), array);
  s["status"] = Status(not_after, now, expiring_soon_days);
  s["version"] = row.Int(5);
  s["fingerprint_sha256"] = row.Text(6);
  s["subject"] = row.Text(7);
  s["issuer"] = row.Text(8);
  s["sans"] = ParseJsonOr(row.Text(9), array);
  s["not_before"] = Rfc3339(row.Int(10));
  s["not_after"] = Rfc3339(not_after);
  s["days_left"] = DaysLeft(not_after, now);
  s["has_private_key"] = row.Int(12) != 0;
  s["findings"] = ParseJsonOr(row.Text(13), array);
  s["key_algorithm"] = row.Text(14);
  s["key_bits"] = row.Int(15);
  s["serial"] = row.Text(16);
  s["chain"] = ParseJsonOr(row.Text(17), array);
  s["signature_algorithm"] = row.Text(18);
  s["bindings"] = ParseJsonOr(row.Text(19), array);
  return s;
}

}  // namespace certinbox::storage
