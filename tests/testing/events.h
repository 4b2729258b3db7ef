// Reading what the daemon publishes and answers: events by type or certificate, `ls` entries.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace certinbox::testing {

// RFC 3339 UTC, as the daemon writes times.
std::string Rfc3339(int64_t unix_seconds);

// How many of `events` are of `type`.
size_t CountOf(const std::vector<nlohmann::json>& events, const std::string& type);

// For DaemonHarness::WaitForEvents: at least `n` events of `type` have arrived.
std::function<bool(const std::vector<nlohmann::json>&)> HasEvents(const std::string& type,
                                                                  size_t n = 1);

// The event whose certificate has this fingerprint, or null.
nlohmann::json FindByFingerprint(const std::vector<nlohmann::json>& events,
                                 const std::string& fingerprint);

// How many of `events` carry the certificate with this fingerprint.
int CountByFingerprint(const std::vector<nlohmann::json>& events, const std::string& fingerprint);

// The entry of `certinbox ls --json` with this fingerprint, or null.
nlohmann::json EntryByFingerprint(const nlohmann::json& ls, const std::string& fingerprint);

}  // namespace certinbox::testing
