// What plugins see of the inventory: the resources bound to them, and the push reports they
// make about those resources (docs/plugins.md "Control requests of plugins").
#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "base/wire.h"
#include "storage/inventory_impl.h"
#include "storage/outbox.h"
#include "storage/summary.h"

namespace certinbox::storage {

namespace {

constexpr size_t kOutputKept = 4096;
constexpr size_t kMessageKept = 1024;

// The last `limit` bytes of `text`, starting on a UTF-8 character boundary.
std::string Tail(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t start = text.size() - limit;
  while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
  return text.substr(start);
}

// The first `limit` bytes of `text`, ending on a UTF-8 character boundary.
std::string Head(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

nlohmann::json OrNull(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nlohmann::json(nullptr) : *it;
}

}  // namespace

base::Result<std::optional<ResourceBinding>> Inventory::Impl::BindingOfResource(
    const std::string& resource) {
  auto st = db_.Prepare(
      "SELECT b.entry_id, e.grp || '/' || e.name, b.plugin FROM bindings b"
      " JOIN entries e ON e.id = b.entry_id WHERE b.resource = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, resource);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<ResourceBinding>();
  ResourceBinding binding{.entry_id = st->Int(0), .entry = st->Text(1)};
  if (!st->IsNull(2)) binding.plugin = st->Text(2);
  return std::optional<ResourceBinding>(std::move(binding));
}

base::Result<nlohmann::json> Inventory::Impl::PluginBindings(const std::string& plugin,
                                                             base::UnixTime now) {
  auto st = db_.Prepare(
      "SELECT resource, entry_id, pushed_version, pushed_at, last_push_result, last_push_message"
      " FROM bindings WHERE plugin = ?1 ORDER BY resource");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, plugin);
  struct Row {
    std::string resource;
    int64_t entry_id;
    nlohmann::json pushed_version, pushed_at, last_push_result, last_push_message;
  };
  std::vector<Row> rows;
  auto json_or_null = [&](int column, auto value) {
    return st->IsNull(column) ? nlohmann::json(nullptr) : nlohmann::json(value);
  };
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    rows.push_back(
        {st->Text(0), st->Int(1), json_or_null(2, st->Int(2)),
         st->IsNull(3) ? nlohmann::json(nullptr) : nlohmann::json(base::FormatRfc3339(st->Int(3))),
         json_or_null(4, st->Text(4)), json_or_null(5, st->Text(5))});
  }
  nlohmann::json out = nlohmann::json::array();
  for (auto& row : rows) {
    // The summary says what the entry serves now (a CSR entry without certificate: version 0).
    auto summary = SummaryOfEntry(row.entry_id, now);
    if (!summary) return std::unexpected(summary.error());
    const nlohmann::json& s = *summary;
    out.push_back({{base::field::kResource, row.resource},
                   {"entry", s.value("group", "") + "/" + s.value("name", "")},
                   {"id", row.entry_id},
                   {base::field::kVersion, s.value(base::field::kVersion, int64_t{0})},
                   {base::field::kFingerprintSha256, OrNull(s, "fingerprint_sha256")},
                   {base::field::kNotAfter, OrNull(s, "not_after")},
                   {base::field::kHasPrivateKey, s.value(base::field::kHasPrivateKey, false)},
                   {"pushed_version", std::move(row.pushed_version)},
                   {"pushed_at", std::move(row.pushed_at)},
                   {"last_push_result", std::move(row.last_push_result)},
                   {"last_push_message", std::move(row.last_push_message)}});
  }
  return out;
}

base::Result<Event> Inventory::Impl::RecordPush(const PushRecord& record) {
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());

  auto find = db_.Prepare("SELECT id, entry_id, plugin FROM bindings WHERE resource = ?1");
  if (!find) return std::unexpected(find.error());
  find->Bind(1, record.resource);
  auto found = find->Step();
  if (!found) return std::unexpected(found.error());
  if (!*found || find->IsNull(2) || find->Text(2) != record.plugin) {
    return base::Fail(base::code::kForbidden,
                      "resource " + record.resource + " is not bound to plugin " + record.plugin +
                          ": a plugin reports pushes of its own bindings only");
  }
  const int64_t binding_id = find->Int(0);
  const int64_t entry_id = find->Int(1);

  auto version = db_.Prepare("SELECT 1 FROM versions WHERE entry_id = ?1 AND version = ?2");
  if (!version) return std::unexpected(version.error());
  version->Bind(1, entry_id).Bind(2, record.version);
  auto has_version = version->Step();
  if (!has_version) return std::unexpected(has_version.error());
  if (!*has_version) {
    return base::Fail(base::code::kNotFound, "the entry bound to " + record.resource +
                                                 " has no version " +
                                                 std::to_string(record.version));
  }

  const std::string message = Head(record.message, kMessageKept);
  auto update = db_.Prepare(
      record.ok ? "UPDATE bindings SET last_push_at = ?2, last_push_result = 'succeeded',"
                  " last_push_message = ?3, pushed_version = ?4, pushed_at = ?2 WHERE id = ?1"
                : "UPDATE bindings SET last_push_at = ?2, last_push_result = 'failed',"
                  " last_push_message = ?3 WHERE id = ?1");
  if (!update) return std::unexpected(update.error());
  update->Bind(1, binding_id).Bind(2, record.now).Bind(3, message);
  if (record.ok) update->Bind(4, record.version);
  if (auto done = update->Run(); !done) return std::unexpected(done.error());

  auto summary = SummaryOfEntry(entry_id, record.now);
  if (!summary) return std::unexpected(summary.error());
  auto event = outbox::Append(
      db_, record.ok ? base::topic::kPushSucceeded : base::topic::kPushFailed, record.now,
      {{base::field::kCertificate, std::move(*summary)},
       {base::field::kResource, record.resource},
       {base::field::kPlugin, record.plugin},
       {base::field::kVersion, record.version},
       {base::field::kMessage, message},
       {base::field::kExitStatus,
        record.exit_status ? nlohmann::json(*record.exit_status) : nlohmann::json(nullptr)},
       {base::field::kOutput, Tail(record.output, kOutputKept)}});
  if (!event) return std::unexpected(event.error());
  if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
  return std::move(*event);
}

}  // namespace certinbox::storage
