#include "tests/testing/events.h"

#include <ctime>

namespace certinbox::testing {

using nlohmann::json;

std::string Rfc3339(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

size_t CountOf(const std::vector<json>& events, const std::string& type) {
  size_t n = 0;
  for (const auto& event : events) n += event.value("type", "") == type;
  return n;
}

std::function<bool(const std::vector<json>&)> HasEvents(const std::string& type, size_t n) {
  return [type, n](const std::vector<json>& events) { return CountOf(events, type) >= n; };
}

namespace {

bool HasFingerprint(const json& event, const std::string& fingerprint) {
  return event.contains("certificate") &&
         event["certificate"].value("fingerprint_sha256", "") == fingerprint;
}

}  // namespace

json FindByFingerprint(const std::vector<json>& events, const std::string& fingerprint) {
  for (const auto& event : events) {
    if (HasFingerprint(event, fingerprint)) return event;
  }
  return nullptr;
}

int CountByFingerprint(const std::vector<json>& events, const std::string& fingerprint) {
  int n = 0;
  for (const auto& event : events) n += HasFingerprint(event, fingerprint);
  return n;
}

json EntryByFingerprint(const json& ls, const std::string& fingerprint) {
  for (const auto& entry : ls["entries"]) {
    if (entry.value("fingerprint_sha256", "") == fingerprint) return entry;
  }
  return nullptr;
}

}  // namespace certinbox::testing
