// `certinbox meta`: an entry's description, labels and metadata, or one version's metadata.
#include "storage/metadata.h"

#include <algorithm>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "pipeline/names.h"
#include "storage/inventory_impl.h"
#include "storage/summary.h"

namespace certinbox::storage {

namespace {

// Whether no array or object in `value` is deeper than `max_depth` (`value` itself at `depth`).
// Recurses at most max_depth - depth + 1 levels.
bool DepthWithin(const nlohmann::json& value, int depth, int max_depth) {
  if (!value.is_structured()) return true;
  if (depth > max_depth) return false;
  for (const auto& child : value) {
    if (!DepthWithin(child, depth + 1, max_depth)) return false;
  }
  return true;
}

base::Result<void> CheckChange(const MetaChange& change) {
  // Counted before any work on them: a request may hold tens of thousands of names.
  if (change.add_labels.size() > kMaxLabels || change.remove_labels.size() > kMaxLabels) {
    return base::Fail(base::code::kBadRequest,
                      "a change adds or removes at most " + std::to_string(kMaxLabels) + " labels");
  }
  if (change.unset.size() > kMaxMetadataKeys) {
    return base::Fail(
        base::code::kBadRequest,
        "a change unsets at most " + std::to_string(kMaxMetadataKeys) + " metadata keys");
  }
  for (const auto* labels : {&change.add_labels, &change.remove_labels}) {
    for (const std::string& label : *labels) {
      if (label.empty()) return base::Fail(base::code::kBadRequest, "a label cannot be empty");
    }
  }
  if (auto ok = CheckEntryNames(std::nullopt, "", change.add_labels); !ok) return ok;
  if (!change.set.is_object()) {
    return base::Fail(base::code::kBadRequest,
                      "the metadata to set must be an object of key = value");
  }
  for (const auto& [key, value] : change.set.items()) {
    if (key.empty()) return base::Fail(base::code::kBadRequest, "a metadata key cannot be empty");
  }
  for (const std::string& key : change.unset) {
    if (key.empty()) return base::Fail(base::code::kBadRequest, "a metadata key cannot be empty");
  }
  if (change.description && change.description->size() > kMaxDescriptionBytes) {
    return base::Fail(base::code::kBadRequest, "a description is at most " +
                                                   std::to_string(kMaxDescriptionBytes) + " bytes");
  }
  return {};
}

// `set` wins over `unset` for a key named in both: the later word on the command line is
// usually --set, and keeping a value is the safer reading.
nlohmann::json Applied(nlohmann::json metadata, const MetaChange& change) {
  if (!metadata.is_object()) metadata = nlohmann::json::object();
  for (const std::string& key : change.unset) metadata.erase(key);
  for (const auto& [key, value] : change.set.items()) metadata[key] = value;
  return metadata;
}

}  // namespace

base::Result<void> CheckMetadata(const nlohmann::json& metadata) {
  if (!metadata.is_object()) return base::Fail(base::code::kBadRequest, "metadata is an object");
  if (metadata.size() > kMaxMetadataKeys) {
    return base::Fail(base::code::kBadRequest,
                      "metadata holds at most " + std::to_string(kMaxMetadataKeys) + " keys");
  }
  if (!DepthWithin(metadata, 1, kMaxMetadataDepth)) {
    return base::Fail(base::code::kBadRequest, "metadata nests arrays and tables at most " +
                                                   std::to_string(kMaxMetadataDepth) + " deep");
  }
  if (metadata.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size() >
      kMaxMetadataBytes) {
    return base::Fail(
        base::code::kBadRequest,
        "metadata takes at most " + std::to_string(kMaxMetadataBytes) + " bytes as JSON");
  }
  return {};
}

base::Result<void> CheckEntryNames(const std::optional<std::string>& name, std::string_view group,
                                   const std::vector<std::string>& labels) {
  using pipeline::NameKind;
  if (name) {
    if (auto ok = pipeline::CheckName(*name, NameKind::kEntryName); !ok) return ok;
  }
  if (!group.empty()) {
    if (auto ok = pipeline::CheckName(group, NameKind::kGroup); !ok) return ok;
  }
  for (const std::string& label : labels) {
    if (auto ok = pipeline::CheckName(label, NameKind::kLabel); !ok) return ok;
  }
  return {};
}

namespace {

// Only a change that sets keys can take metadata past its budget; one that only unsets keys, or
// changes the description or labels, still works on an entry stored before the budget existed.
base::Result<void> CheckSetMetadata(const nlohmann::json& metadata, const MetaChange& change) {
  if (change.set.empty()) return {};
  return CheckMetadata(metadata);
}

// What `meta` changes of an entry, as stored.
struct EntryMeta {
  std::string description;
  nlohmann::json labels;  // an array
  nlohmann::json metadata;
};

base::Result<EntryMeta> ReadEntryMeta(sqlite::Connection& db, int64_t entry_id) {
  auto st = db.Prepare("SELECT description, labels, metadata FROM entries WHERE id = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, entry_id);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row)
    return base::Fail(base::code::kNotFound, "no entry has id " + std::to_string(entry_id));
  EntryMeta meta{st->Text(0), ParseJsonOr(st->Text(1), nlohmann::json::array()),
                 ParseJsonOr(st->Text(2), nlohmann::json::object())};
  if (!meta.labels.is_array()) meta.labels = nlohmann::json::array();
  return meta;
}

// `labels` with the change's added ones appended (once) and its removed ones taken out.
nlohmann::json AppliedLabels(const nlohmann::json& labels, const MetaChange& change) {
  nlohmann::json new_labels = labels;
  for (const std::string& label : change.add_labels) {
    if (std::find(new_labels.begin(), new_labels.end(), label) == new_labels.end()) {
      new_labels.push_back(label);
    }
  }
  for (const std::string& label : change.remove_labels) {
    new_labels.erase(std::remove(new_labels.begin(), new_labels.end(), label), new_labels.end());
  }
  return new_labels;
}

}  // namespace

base::Result<MetaOutcome> Inventory::Impl::UpdateMeta(const std::string& entry,
                                                      const MetaChange& change,
                                                      base::UnixTime now) {
  if (auto ok = CheckChange(change); !ok) return std::unexpected(ok.error());
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());
  auto entry_id = ResolveEntry(entry);
  if (!entry_id) return std::unexpected(entry_id.error());

  auto stored = ReadEntryMeta(db_, *entry_id);
  if (!stored) return std::unexpected(stored.error());
  const auto& [description, labels, metadata] = *stored;

  MetaOutcome outcome;
  std::string new_description = change.description.value_or(description);
  if (new_description != description) outcome.changed.emplace_back("description");

  nlohmann::json new_labels = AppliedLabels(labels, change);
  if (new_labels != labels) outcome.changed.emplace_back("labels");
  if (new_labels.size() > kMaxLabels && new_labels.size() > labels.size()) {
    return base::Fail(base::code::kBadRequest,
                      "an entry has at most " + std::to_string(kMaxLabels) + " labels");
  }

  nlohmann::json new_metadata = metadata;
  int64_t version_id = 0;
  nlohmann::json version_metadata, new_version_metadata;
  if (change.version) {
    auto st = db_.Prepare("SELECT id, metadata FROM versions WHERE entry_id = ?1 AND version = ?2");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, *entry_id).Bind(2, *change.version);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) {
      return base::Fail(base::code::kNotFound,
                        "\"" + entry + "\" has no version " + std::to_string(*change.version) +
                            ": `certinbox show " + entry + " --versions` lists its versions");
    }
    version_id = st->Int(0);
    version_metadata = ParseJsonOr(st->Text(1), nlohmann::json::object());
    new_version_metadata = Applied(version_metadata, change);
    if (auto ok = CheckSetMetadata(new_version_metadata, change); !ok) {
      return std::unexpected(ok.error());
    }
    if (new_version_metadata != version_metadata) outcome.changed.emplace_back("version_metadata");
  } else {
    new_metadata = Applied(metadata, change);
    if (auto ok = CheckSetMetadata(new_metadata, change); !ok) return std::unexpected(ok.error());
    if (new_metadata != metadata) {
      // Kept in the order description, labels, metadata, version_metadata.
      outcome.changed.emplace_back("metadata");
    }
  }
  if (outcome.changed.empty()) return outcome;  // tx rolls back: nothing was written

  auto update =
      db_.Prepare("UPDATE entries SET description = ?1, labels = ?2, metadata = ?3 WHERE id = ?4");
  if (!update) return std::unexpected(update.error());
  update->Bind(1, new_description).Bind(2, DumpJson(new_labels)).Bind(3, DumpJson(new_metadata));
  update->Bind(4, *entry_id);
  if (auto done = update->Run(); !done) return std::unexpected(done.error());
  if (change.version) {
    auto st = db_.Prepare("UPDATE versions SET metadata = ?1 WHERE id = ?2");
    if (!st) return std::unexpected(st.error());
    st->Bind(1, DumpJson(new_version_metadata)).Bind(2, version_id);
    if (auto done = st->Run(); !done) return std::unexpected(done.error());
  }
  auto event = EntryUpdated(*entry_id, outcome.changed, now);
  if (!event) return std::unexpected(event.error());
  if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
  outcome.event = std::move(*event);
  return outcome;
}

}  // namespace certinbox::storage
