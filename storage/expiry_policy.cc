#include "storage/expiry_policy.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace certinbox::storage {

namespace {

std::string ThresholdSql(const ExpiryThreshold& t) {
  std::string share;
  if (t.percent)
    share = "((v.not_after - v.not_before) * " + std::to_string(*t.percent) + " / 100)";
  if (!t.seconds) return share;
  if (!t.percent) return std::to_string(*t.seconds);
  return "MIN(" + share + ", " + std::to_string(*t.seconds) + ")";
}

// "CASE WHEN <entry or group of each override> THEN <of its rule> ... ELSE <default> END".
std::string CaseByRule(const ExpiryPolicy& policy,
                       const std::function<std::string(std::string)>& param,
                       const std::function<std::string(const ExpiryRule&)>& of) {
  if (policy.overrides.empty()) return of(policy.defaults);
  std::string sql = "(CASE";
  for (const ExpiryOverride& o : policy.overrides) {
    sql += " WHEN e.grp = " + param(o.group);
    if (o.name) sql += " AND e.name = " + param(*o.name);
    sql += " THEN " + of(o.rule);
  }
  return sql + " ELSE " + of(policy.defaults) + " END)";
}

std::optional<int64_t> Longest(const ExpiryPolicy& policy,
                               const std::function<std::optional<int64_t>(const ExpiryRule&)>& of) {
  std::optional<int64_t> longest = of(policy.defaults);
  for (const ExpiryOverride& o : policy.overrides) {
    std::optional<int64_t> one = of(o.rule);
    if (!one || !longest) return std::nullopt;
    longest = std::max(*longest, *one);
  }
  return longest;
}

}  // namespace

int64_t ExpiryThreshold::SecondsFor(int64_t lifetime) const {
  std::optional<int64_t> share;
  if (percent) share = lifetime * *percent / 100;  // as SQLite computes it (ThresholdSql)
  if (share && seconds) return std::min(*share, *seconds);
  return share ? *share : seconds.value_or(0);
}

std::string FormatDuration(int64_t seconds) {
  constexpr std::pair<const char*, int64_t> kUnits[] = {
      {"d", base::kSecondsPerDay}, {"h", 3600}, {"m", 60}};
  for (const auto& [unit, scale] : kUnits) {
    if (seconds % scale == 0) return std::to_string(seconds / scale) + unit;
  }
  return std::to_string(seconds) + "s";
}

std::string ExpiryThreshold::Key() const {
  std::string key;
  if (percent) key = std::to_string(*percent) + "%";
  if (seconds) key += (key.empty() ? "" : ",") + FormatDuration(*seconds);
  return key;
}

std::string ExpiryThreshold::Reason(int64_t lifetime) const {
  const bool by_share =
      percent && (!seconds || lifetime * static_cast<int64_t>(*percent) / 100 <= *seconds);
  if (by_share) return "less than " + std::to_string(*percent) + "% of its lifetime left";
  return "less than " + FormatDuration(seconds.value_or(0)) + " left";
}

const ExpiryRule& ExpiryPolicy::For(std::string_view group, std::string_view name) const {
  for (const ExpiryOverride& o : overrides) {
    if (o.group == group && (!o.name || *o.name == name)) return o.rule;
  }
  return defaults;
}

std::string ExpiryPolicy::OriginOf(std::string_view group, std::string_view name) const {
  for (const ExpiryOverride& o : overrides) {
    if (o.group != group || (o.name && *o.name != name)) continue;
    return o.name ? "entry " + o.group + "/" + *o.name : "group " + o.group;
  }
  return "";
}

std::optional<int64_t> ExpiryPolicy::LongestExpiringSoon() const {
  return Longest(*this, [](const ExpiryRule& r) { return r.expiring_soon.seconds; });
}

std::optional<int64_t> ExpiryPolicy::LongestNotice() const {
  return Longest(*this, [](const ExpiryRule& r) -> std::optional<int64_t> {
    int64_t longest = 0;
    for (const ExpiryThreshold& t : r.notify) {
      if (!t.seconds) return std::nullopt;
      longest = std::max(longest, *t.seconds);
    }
    return longest;
  });
}

ExpiryStatus StatusOf(const ExpiryPolicy& policy, std::string_view group, std::string_view name,
                      base::UnixTime not_before, base::UnixTime not_after, base::UnixTime now) {
  if (now >= not_after) return {"expired", std::nullopt};
  const ExpiryThreshold& soon = policy.For(group, name).expiring_soon;
  const int64_t lifetime = not_after - not_before;
  if (not_after - now >= soon.SecondsFor(lifetime)) return {"valid", std::nullopt};
  std::string reason = soon.Reason(lifetime);
  if (std::string origin = policy.OriginOf(group, name); !origin.empty()) {
    reason += " (" + origin + ")";
  }
  return {"expiring_soon", std::move(reason)};
}

std::string ExpiringSoonSecondsSql(const ExpiryPolicy& policy,
                                   const std::function<std::string(std::string)>& param) {
  return CaseByRule(policy, param,
                    [](const ExpiryRule& rule) { return ThresholdSql(rule.expiring_soon); });
}

std::string NoticeThresholdsSql(const ExpiryPolicy& policy,
                                const std::function<std::string(std::string)>& param) {
  return CaseByRule(policy, param, [&](const ExpiryRule& rule) {
    nlohmann::json list = nlohmann::json::array();
    for (const ExpiryThreshold& t : rule.notify) {
      list.push_back({{"k", t.Key()},
                      {"p", t.percent ? nlohmann::json(*t.percent) : nlohmann::json()},
                      {"s", t.seconds ? nlohmann::json(*t.seconds) : nlohmann::json()}});
    }
    return param(list.dump());
  });
}

}  // namespace certinbox::storage
