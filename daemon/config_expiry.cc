#include "daemon/config_expiry.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>
#include <vector>

#include "base/time.h"

namespace certinbox::daemon {

namespace {

constexpr int64_t kLongestThresholdSeconds = 3650 * base::kSecondsPerDay;

// One term of a threshold: "33%" or a duration with a unit ("30d"; a bare number could mean
// either, so it is refused).
bool ReadTerm(std::string_view text, storage::ExpiryThreshold& into) {
  if (text.ends_with('%')) {
    int share = 0;
    const char* end = text.data() + text.size() - 1;
    auto [stop, ec] = std::from_chars(text.data(), end, share);
    if (into.percent || ec != std::errc() || stop != end || share < 1 || share > 100) return false;
    into.percent = share;
    return true;
  }
  if (text.empty() || text.find_first_not_of("0123456789") == std::string_view::npos) return false;
  auto seconds = ParseDuration(text);
  if (!seconds || *seconds < 1 || *seconds > kLongestThresholdSeconds || into.seconds) {
    return false;
  }
  into.seconds = static_cast<int64_t>(*seconds);
  return true;
}

// A list of thresholds: notify, notify_days (whole days, 0 left out: expiry itself is
// cert.expired), ordered from the most time left to the least.
std::optional<std::vector<storage::ExpiryThreshold>> ReadThresholds(ConfigChecker& check,
                                                                    const toml::node& node,
                                                                    const std::string& key,
                                                                    bool days) {
  const auto* array = node.as_array();
  if (!array) {
    check.Problem(node.source(), "'" + key + "' must be an array" +
                                     (days ? " of days, e.g. [30, 7, 1]: better, write notify = "
                                             "[\"30d\", \"7d\", \"1d\"]"
                                           : " of thresholds, e.g. [\"33%\", \"7d\", \"1d\"]"));
    return std::nullopt;
  }
  std::vector<storage::ExpiryThreshold> list;
  for (const auto& element : *array) {
    if (days) {
      const auto* n = element.as_integer();
      if (!n || n->get() < 0 || n->get() > 3650) {
        check.Problem(element.source(), "'notify_days' must hold whole days from 0 to 3650");
        return std::nullopt;
      }
      if (n->get() > 0) list.push_back({.seconds = n->get() * base::kSecondsPerDay});
      continue;
    }
    auto threshold = ReadThreshold(check, element, key);
    if (!threshold) return std::nullopt;
    list.push_back(*threshold);
  }
  // By the time they leave a year-long certificate, most first; one of each.
  constexpr int64_t kYear = 365 * base::kSecondsPerDay;
  std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
    return a.SecondsFor(kYear) > b.SecondsFor(kYear);
  });
  list.erase(std::unique(list.begin(), list.end()), list.end());
  return list;
}

// expiring_soon / notify (and the older spellings, in [expiry] only) into `rule`.
void ReadRuleKeys(ConfigChecker& check, const toml::table& table, bool legacy,
                  storage::ExpiryRule& rule) {
  if (legacy && table.get("expiring_soon_days") && table.get("expiring_soon")) {
    check.Problem(table.get("expiring_soon_days")->source(),
                  "'expiring_soon_days' and 'expiring_soon' are both set: keep 'expiring_soon' "
                  "only ('expiring_soon_days = 30' is 'expiring_soon = \"30d\"')");
  } else if (legacy && table.get("expiring_soon_days")) {
    if (auto v = check.Integer(table, "expiring_soon_days", 1, 3650)) {
      rule.expiring_soon = {.seconds = *v * base::kSecondsPerDay};
    }
  } else if (const toml::node* node = table.get("expiring_soon")) {
    if (auto t = ReadThreshold(check, *node, "expiring_soon")) rule.expiring_soon = *t;
  }
  if (legacy && table.get("notify_days") && table.get("notify")) {
    check.Problem(table.get("notify_days")->source(),
                  "'notify_days' and 'notify' are both set: keep 'notify' only "
                  "('notify_days = [30, 7]' is 'notify = [\"30d\", \"7d\"]')");
  } else if (const toml::node* node = legacy ? table.get("notify_days") : nullptr) {
    if (auto list = ReadThresholds(check, *node, "notify_days", true)) rule.notify = *list;
  } else if (const toml::node* node = table.get("notify")) {
    if (auto list = ReadThresholds(check, *node, "notify", false)) rule.notify = *list;
  }
}

// [[expiry.rule]]s: a group's rule, or one entry's, each key it leaves out taken from the
// group's rule (for an entry) or the [expiry] default. Entries' rules come first in
// policy.overrides, so that ExpiryPolicy::For finds them before their group's.
void ReadRules(ConfigChecker& check, const toml::table& expiry, storage::ExpiryPolicy& policy) {
  const toml::node* node = expiry.get("rule");
  if (!node) return;
  const auto* array = node->as_array();
  if (!array || !array->is_array_of_tables()) {
    check.Problem(node->source(), "'rule' must be an array of tables: write [[expiry.rule]]");
    return;
  }
  std::vector<storage::ExpiryOverride> groups, entries;
  std::set<std::pair<std::string, std::string>> seen;
  auto read = [&](const toml::table& table, const storage::ExpiryPolicy& base) {
    auto group = check.String(table, "group");
    auto name = table.contains("name") ? check.String(table, "name") : std::nullopt;
    if (!group || (table.contains("name") && !name)) return;
    if (!seen.emplace(*group, name.value_or("")).second) {
      check.Problem(table.source(),
                    "two [[expiry.rule]]s are for " +
                        (name ? "entry " + *group + "/" + *name : "group " + *group) +
                        ": merge them");
      return;
    }
    storage::ExpiryOverride o{
        .group = *group, .name = name, .rule = base.For(*group, name.value_or(""))};
    ReadRuleKeys(check, table, false, o.rule);
    (name ? entries : groups).push_back(std::move(o));
  };
  for (const auto& element : *array) {
    const auto& table = *element.as_table();
    check.OnlyKeys(table, "[[expiry.rule]]", {"group", "name", "expiring_soon", "notify"});
    if (!table.contains("group")) {
      check.Problem(table.source(), "[[expiry.rule]] needs a 'group' (and a 'name' for one entry)");
    } else if (!table.contains("name")) {
      read(table, policy);
    }
  }
  const storage::ExpiryPolicy with_groups{.defaults = policy.defaults, .overrides = groups};
  for (const auto& element : *array) {
    const auto& table = *element.as_table();
    if (table.contains("group") && table.contains("name")) read(table, with_groups);
  }
  policy.overrides = std::move(entries);
  policy.overrides.insert(policy.overrides.end(), groups.begin(), groups.end());
}

}  // namespace

std::optional<storage::ExpiryThreshold> ReadThreshold(ConfigChecker& check, const toml::node& node,
                                                      const std::string& key) {
  storage::ExpiryThreshold threshold;
  bool good = true;
  if (const auto* text = node.as_string()) {
    good = ReadTerm(text->get(), threshold);
  } else if (const auto* array = node.as_array(); array && !array->empty() && array->size() <= 2) {
    for (const auto& element : *array) {
      const auto* text = element.as_string();
      good = good && text && ReadTerm(text->get(), threshold);
    }
  } else {
    good = false;
  }
  if (good) return threshold;
  check.Problem(node.source(),
                "'" + key +
                    "' takes a share of the lifetime left (\"33%\"), a time left (\"30d\", "
                    "\"12h\", \"30m\", \"2w\"; at most 3650 days) or both, whichever leaves "
                    "less time ([\"33%\", \"30d\"])");
  return std::nullopt;
}

std::string ThresholdText(const storage::ExpiryThreshold& threshold) {
  if (threshold.percent && threshold.seconds) {
    return "[\"" + std::to_string(*threshold.percent) + "%\", \"" +
           storage::FormatDuration(*threshold.seconds) + "\"]";
  }
  return "\"" + threshold.Key() + "\"";
}

std::string ExpiryRuleText(const storage::ExpiryRule& rule) {
  std::string notify;
  for (const auto& t : rule.notify) notify += (notify.empty() ? "" : ", ") + ThresholdText(t);
  return "expiring_soon = " + ThresholdText(rule.expiring_soon) + ", notify = [" + notify + "]";
}

void ReadExpiry(ConfigChecker& check, const toml::table& root, Config& config) {
  const toml::table* expiry = check.Table(root, "expiry");
  if (!expiry) return;
  check.OnlyKeys(
      *expiry, "[expiry]",
      {"expiring_soon", "notify", "rule", "scan_interval", "expiring_soon_days", "notify_days"});
  ReadRuleKeys(check, *expiry, true, config.expiry.defaults);
  ReadRules(check, *expiry, config.expiry);
  if (auto v = check.Duration(*expiry, "scan_interval", 1)) config.scan_interval_s = *v;
}

}  // namespace certinbox::daemon
