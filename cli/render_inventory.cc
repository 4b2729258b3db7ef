// `ls` and `show` output.
#include <algorithm>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

#include "base/text.h"
#include "base/wire.h"
#include "cli/render.h"
#include "cli/table.h"

namespace certinbox::cli {
namespace {

// The first of several names a field may go by (the daemon's version objects are young).
const Json& FirstOf(const Json& obj, std::initializer_list<std::string_view> keys) {
  for (auto key : keys) {
    const Json& value = FieldOf(obj, key);
    if (!value.is_null()) return value;
  }
  static const Json kNull;
  return kNull;
}

std::string KeyOf(const Json& entry) {
  std::string algorithm = TextOf(FieldOf(entry, base::field::kKeyAlgorithm));
  const Json& bits = FieldOf(entry, base::field::kKeyBits);
  if (bits.is_number() && bits.get<int64_t>() > 0) return algorithm + " " + TextOf(bits);
  return algorithm;
}

std::string ChainOf(const Json& chain) {
  if (!chain.is_array() || chain.empty()) return "-";
  std::vector<std::string> parts;
  for (const auto& link : chain) {
    parts.push_back(link.is_string()
                        ? ShortHex(link.get<std::string>())
                        : ShortHex(TextOf(FieldOf(link, base::field::kFingerprintSha256))));
  }
  return Join(parts, ", ") + " (issuer first)";
}

std::string BindingsOf(const Json& bindings) {
  if (!bindings.is_array() || bindings.empty()) return "-";
  std::vector<std::string> parts;
  for (const auto& binding : bindings) {
    if (!binding.is_object()) {
      parts.push_back(TextOf(binding));
      continue;
    }
    std::string text = TextOf(FieldOf(binding, "resource"));
    const Json& plugin = FieldOf(binding, "plugin");
    if (plugin.is_string() && !plugin.get<std::string>().empty()) {
      text += " (plugin " + plugin.get<std::string>() + ")";
    }
    parts.push_back(text);
  }
  return Join(parts, ", ");
}

std::string VersionsTable(const Json& entry) {
  const Json& versions = ArrayOf(entry, "versions");
  if (versions.empty()) return "no versions\n";
  const Json& current = FieldOf(entry, base::field::kVersion);
  Table table(
      {"VERSION", "STATUS", "FINGERPRINT", "NOT BEFORE", "NOT AFTER", "SOURCE", "IMPORTED"});
  for (const auto& version : versions) {
    const Json& number = FirstOf(version, {"version", "number"});
    std::string label = TextOf(number);
    const Json& is_current = FieldOf(version, "current");
    if (is_current.is_boolean() ? is_current.get<bool>()
                                : !current.is_null() && number == current) {
      label += " *";
    }
    table.AddRow(
        {label, TextOf(FieldOf(version, "status")),
         ShortHex(TextOf(FirstOf(version, {base::field::kFingerprintSha256, "fingerprint"}))),
         DateOf(FieldOf(version, base::field::kNotBefore)),
         DateOf(FieldOf(version, base::field::kNotAfter)),
         SourceOf(FieldOf(version, base::field::kSource)),
         TextOf(FirstOf(version, {"imported_at", "import_time", "created_at"}))});
  }
  return table.Render() + "(* current version)\n";
}

// `text` with `spaces` spaces before each line (but the first, unless `first`).
std::string Indented(const std::string& text, size_t spaces, bool first) {
  const std::string pad(spaces, ' ');
  std::string out = first ? pad : "";
  for (char c : text) {
    out += c;
    if (c == '\n') out += pad;
  }
  return out;
}

// "expiring_soon (less than 33% of its lifetime left)": the status and the rule that made it.
std::string StatusText(const Json& entry) {
  const Json& reason = FieldOf(entry, base::field::kExpiringReason);
  return TextOf(FieldOf(entry, base::field::kStatus)) +
         (reason.is_string() ? " (" + reason.get<std::string>() + ")" : "");
}

}  // namespace

InventoryPrinter::InventoryPrinter(bool json, bool filtered) : json_(json), filtered_(filtered) {}

std::string InventoryPrinter::Page(const Json& ls_reply) {
  if (const Json& keys = FieldOf(ls_reply, base::reply::kUnmatchedKeys); keys.is_array()) {
    for (const auto& key : keys) unmatched_keys_.push_back(key);
  }
  const Json& entries = ArrayOf(ls_reply, base::reply::kEntries);
  std::string out;
  if (json_) {
    // As nlohmann's dump with indent 2 lays out {"entries": [...], ...}, one row at a time.
    for (const auto& entry : entries) {
      out += rows_++ == 0 ? "{\n  \"entries\": [\n" : ",\n";
      out += Indented(DumpJson(entry, 2), 4, true);
    }
    return out;
  }
  // ID first: the one name of an entry that is never ambiguous (errors say "use the id").
  Table table({"ID", "NAME", "GROUP", "KIND", "STATUS", "EXPIRES", "DAYS", "KEY", "FINDINGS",
               "FINGERPRINT"});
  for (const auto& entry : entries) {
    table.AddRow(
        {TextOf(FieldOf(entry, base::field::kId)), TextOf(FieldOf(entry, base::field::kName)),
         TextOf(FieldOf(entry, base::field::kGroup)), TextOf(FieldOf(entry, base::field::kKind)),
         TextOf(FieldOf(entry, base::field::kStatus)),
         DateOf(FieldOf(entry, base::field::kNotAfter)),
         TextOf(FieldOf(entry, base::field::kDaysLeft)),
         YesNo(FieldOf(entry, base::field::kHasPrivateKey)),
         FindingsOf(FieldOf(entry, base::field::kFindings)),
         ShortHex(TextOf(FieldOf(entry, base::field::kFingerprintSha256)))});
  }
  if (table.empty()) return out;
  out = table.Render(widths_, rows_ == 0);
  rows_ += entries.size();
  return out;
}

std::string InventoryPrinter::Finish() {
  if (json_) {
    std::string out = rows_ == 0 ? "{\n  \"entries\": [],\n" : "\n  ],\n";
    return out + "  \"unmatched_keys\": " + Indented(DumpJson(unmatched_keys_, 2), 2, false) +
           "\n}\n";
  }
  std::string out;
  if (rows_ == 0) out = filtered_ ? "no certificates match\n" : "no certificates\n";
  if (!unmatched_keys_.empty()) {
    Table table({"SPKI", "ALGORITHM", "BITS", "SOURCE"});
    for (const auto& key : unmatched_keys_) {
      table.AddRow({ShortHex(TextOf(FieldOf(key, "spki_sha256"))),
                    TextOf(FieldOf(key, "algorithm")), TextOf(FieldOf(key, "bits")),
                    SourceOf(FieldOf(key, base::field::kSource))});
    }
    out += "\nunmatched keys (waiting for their certificate): " +
           std::to_string(unmatched_keys_.size()) + "\n" + table.Render();
  }
  return out;
}

std::string RenderInventory(const Json& ls_reply, bool filtered) {
  InventoryPrinter printer(false, filtered);
  std::string out = printer.Page(ls_reply);
  return out + printer.Finish();
}

std::string RenderEntry(const Json& entry, bool versions) {
  const std::vector<std::pair<std::string, std::string>> lines = {
      {"name", TextOf(FieldOf(entry, base::field::kName))},
      {"id", TextOf(FieldOf(entry, base::field::kId))},
      {"group", TextOf(FieldOf(entry, base::field::kGroup))},
      {"kind", TextOf(FieldOf(entry, base::field::kKind))},
      {"status", StatusText(entry)},
      {"version", TextOf(FieldOf(entry, base::field::kVersion))},
      {"subject", TextOf(FieldOf(entry, base::field::kSubject))},
      {"issuer", TextOf(FieldOf(entry, base::field::kIssuer))},
      {"serial", TextOf(FieldOf(entry, base::field::kSerial))},
      {"SANs", TextOf(FieldOf(entry, base::field::kSans))},
      {"not before", TextOf(FieldOf(entry, base::field::kNotBefore))},
      {"not after", TextOf(FieldOf(entry, base::field::kNotAfter))},
      {"days left", TextOf(FieldOf(entry, base::field::kDaysLeft))},
      {"key", KeyOf(entry)},
      {"signature", TextOf(FieldOf(entry, base::field::kSignatureAlgorithm))},
      {"fingerprint", TextOf(FieldOf(entry, base::field::kFingerprintSha256))},
      {"findings", FindingsOf(FieldOf(entry, base::field::kFindings))},
      {"chain", ChainOf(FieldOf(entry, base::field::kChain))},
      {"has key", YesNo(FieldOf(entry, base::field::kHasPrivateKey))},
      {"labels", LabelsOf(FieldOf(entry, base::field::kLabels))},
      {"bindings", BindingsOf(FieldOf(entry, base::field::kBindings))},
      {"description", TextOf(FieldOf(entry, "description"))},
      {"metadata", LabelsOf(FieldOf(entry, "metadata"))},
  };
  size_t width = 0;
  for (const auto& [label, value] : lines) width = std::max(width, label.size());
  std::string out;
  for (const auto& [label, value] : lines) {
    out += label + ":" + std::string(width - label.size() + 1, ' ') + base::Escape(value) + "\n";
  }
  if (std::string bindings = RenderBindings(entry); !bindings.empty()) out += "\n" + bindings;
  if (versions) out += "\n" + VersionsTable(entry);
  return out;
}

}  // namespace certinbox::cli
