// Expiry rules (docs/configuration.md, [expiry]): when a certificate is expiring soon and when
// cert.expiring is announced, as a share of its lifetime left, a time left, or the later of both;
// per group or per entry. Pure values: no database, no clock.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/time.h"

namespace certinbox::storage {

// A threshold: "33%" (a share of notAfter - notBefore left), "30d" (a time left), or both,
// crossed once the smaller of the two is left: ["33%", "30d"] is 30 days for a 398-day
// certificate and 15.5 days for a 47-day one.
struct ExpiryThreshold {
  std::optional<int> percent;      // 1..100
  std::optional<int64_t> seconds;  // at least 1

  // The time left at which a certificate of this lifetime (seconds) crosses it; negative (never
  // crossed) for a certificate whose notBefore is not before its notAfter and a share alone.
  int64_t SecondsFor(int64_t lifetime) const;
  // Its stable name, stored with each notice: "33%", "30d", "33%,30d" (a duration in the largest
  // of d, h, m, s that divides it).
  std::string Key() const;
  // Why a certificate of this lifetime crossed it: "less than 33% of its lifetime left" or
  // "less than 30d left" (for both, the one that leaves less time).
  std::string Reason(int64_t lifetime) const;
  bool operator==(const ExpiryThreshold&) const = default;
};

// "30d" as the config and events write it.
std::string FormatDuration(int64_t seconds);

// The rule of an entry: its expiring-soon threshold and its notices.
struct ExpiryRule {
  ExpiryThreshold expiring_soon{.percent = 33, .seconds = 30 * base::kSecondsPerDay};
  std::vector<ExpiryThreshold> notify = {
      {.percent = 33, .seconds = 30 * base::kSecondsPerDay},
      {.percent = 10, .seconds = 7 * base::kSecondsPerDay},
      {.seconds = base::kSecondsPerDay},
  };
  bool operator==(const ExpiryRule&) const = default;
};

// An [[expiry.rule]]: for a group, or one entry of it (`name`).
struct ExpiryOverride {
  std::string group;
  std::optional<std::string> name;
  ExpiryRule rule;  // complete: what it does not set comes from the group's rule or the default
  bool operator==(const ExpiryOverride&) const = default;
};

struct ExpiryPolicy {
  ExpiryRule defaults;
  std::vector<ExpiryOverride> overrides;  // entries' first, then groups'

  // The rule for an entry, and where it comes from ("" for the default, "group prod",
  // "entry prod/web").
  const ExpiryRule& For(std::string_view group, std::string_view name) const;
  std::string OriginOf(std::string_view group, std::string_view name) const;
  // The most time left at which any rule's expiring-soon threshold can be crossed; none when a
  // rule is a share alone (then every not yet expired certificate may be).
  std::optional<int64_t> LongestExpiringSoon() const;
  // The same for notices.
  std::optional<int64_t> LongestNotice() const;
  bool operator==(const ExpiryPolicy&) const = default;
};

// An entry's status at `now`: valid | expiring_soon | expired, and for expiring_soon the reason
// ("less than 33% of its lifetime left", with " (group prod)" when a rule of the group says so).
// A certificate that is not valid yet is "valid" (its finding not_yet_valid says so).
struct ExpiryStatus {
  std::string_view status;
  std::optional<std::string> reason;
};
ExpiryStatus StatusOf(const ExpiryPolicy& policy, std::string_view group, std::string_view name,
                      base::UnixTime not_before, base::UnixTime not_after, base::UnixTime now);

// SQL for the time left below which an entry is expiring soon, by its rule: a CASE over
// e.grp/e.name (with `param` binding each text and returning its placeholder) of expressions
// in v.not_before/v.not_after (SQLite's integer arithmetic, as SecondsFor).
std::string ExpiringSoonSecondsSql(const ExpiryPolicy& policy,
                                   const std::function<std::string(std::string)>& param);
// SQL for the JSON array of notice thresholds ({"k": key, "p": percent, "s": seconds}) of the
// entry e, by its rule.
std::string NoticeThresholdsSql(const ExpiryPolicy& policy,
                                const std::function<std::string(std::string)>& param);

}  // namespace certinbox::storage
