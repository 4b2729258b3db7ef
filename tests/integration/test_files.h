// Small helpers shared by the integration tests.
#pragma once

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace certinbox::testing {

// RFC 3339 UTC, as the daemon writes times.
inline std::string Rfc3339(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// How many of `events` are of `type`.
inline size_t CountOf(const std::vector<nlohmann::json>& events, const std::string& type) {
  size_t n = 0;
  for (const auto& event : events) n += event.value("type", "") == type;
  return n;
}

// For DaemonHarness::WaitForEvents: at least `n` events of `type` have arrived.
inline auto HasEvents(const std::string& type, size_t n = 1) {
  return
      [type, n](const std::vector<nlohmann::json>& events) { return CountOf(events, type) >= n; };
}

// The event whose certificate has this fingerprint, or null.
inline nlohmann::json FindByFingerprint(const std::vector<nlohmann::json>& events,
                                        const std::string& fingerprint) {
  for (const auto& event : events) {
    if (event.contains("certificate") &&
        event["certificate"].value("fingerprint_sha256", "") == fingerprint) {
      return event;
    }
  }
  return nullptr;
}

inline int CountByFingerprint(const std::vector<nlohmann::json>& events,
                              const std::string& fingerprint) {
  int n = 0;
  for (const auto& event : events) {
    if (event.contains("certificate") &&
        event["certificate"].value("fingerprint_sha256", "") == fingerprint) {
      ++n;
    }
  }
  return n;
}

inline nlohmann::json EntryByFingerprint(const nlohmann::json& ls, const std::string& fingerprint) {
  for (const auto& entry : ls["entries"]) {
    if (entry.value("fingerprint_sha256", "") == fingerprint) return entry;
  }
  return nullptr;
}

}  // namespace certinbox::testing
