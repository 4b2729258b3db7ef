// The [expiry] section of the config (docs/configuration.md "[expiry]"); part of LoadConfig
// (config.cc), with its ConfigChecker.
#pragma once

#include <toml++/toml.h>

#include <optional>
#include <string>

#include "daemon/config.h"
#include "daemon/config_checker.h"
#include "storage/expiry_policy.h"

namespace certinbox::daemon {

// [expiry] into config.expiry and config.scan_interval_s: `expiring_soon` and `notify`
// thresholds, the [[expiry.rule]]s of groups and entries, and the older `expiring_soon_days` /
// `notify_days`, read as thresholds in days ("30d"). Setting both spellings of one key is a
// problem.
void ReadExpiry(ConfigChecker& check, const toml::table& root, Config& config);

// "33%", "30d" or ["33%", "30d"] as a threshold; none (and a problem for `key`) otherwise.
std::optional<storage::ExpiryThreshold> ReadThreshold(ConfigChecker& check, const toml::node& node,
                                                      const std::string& key);

// The text config_diff and `status` show: "33%", ["33%", "30d"], [["33%", "30d"], "7d"].
std::string ThresholdText(const storage::ExpiryThreshold& threshold);
std::string ExpiryRuleText(const storage::ExpiryRule& rule);

}  // namespace certinbox::daemon
