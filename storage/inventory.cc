#include "storage/inventory.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "storage/inventory_impl.h"
#include "storage/migrations.h"
#include "storage/outbox.h"
#include "storage/summary.h"
#include "storage/version_names.h"

namespace certinbox::storage {

namespace {

// No exception crosses the storage boundary (nlohmann::json and std containers may throw);
// the open transaction, if any, is rolled back by its RAII guard while unwinding.
template <class F>
auto Guarded(const char* what, F&& body) noexcept -> decltype(body()) {
  try {
    return body();
  } catch (const std::exception& e) {
    return base::Fail(base::code::kStorageError, std::string(what) + " failed: " + e.what());
  } catch (...) {
    return base::Fail(base::code::kStorageError, std::string(what) + " failed");
  }
}

// SQLite creates files with mode 0644; the database holds the inventory (keys only sealed, but
// names, hosts and metadata in clear), so it is created 0600 and its -wal/-shm files inherit that.
base::Result<void> CreatePrivateFile(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    return base::Fail(base::code::kStorageError,
                      "cannot create database " + file.string() + ": " + std::strerror(errno));
  }
  ::close(fd);
  return {};
}

base::Result<void> Configure(sqlite::Connection& db) {
  if (int rc = sqlite3_busy_timeout(db.get(), 5000); rc != SQLITE_OK) {
    return std::unexpected(sqlite::StorageError(db.get(), "busy_timeout"));
  }
  auto wal = db.Prepare("PRAGMA journal_mode = WAL");
  if (!wal) return std::unexpected(wal.error());
  auto row = wal->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row || wal->Text(0) != "wal") {
    return base::Fail(base::code::kStorageError,
                      "the database cannot use WAL mode (journal_mode is " +
                          (*row ? wal->Text(0) : std::string("unknown")) +
                          "): put state_dir on a local filesystem");
  }
  // WAL + synchronous=NORMAL: a commit is in the WAL file (the OS page cache) before COMMIT
  // returns, so it survives the process being killed (SIGKILL, crash). A power loss or kernel
  // crash can lose the last commits (the database stays consistent), so whoever acts on a
  // commit outside the database (a file leaving its inbox) calls SyncToDisk() first: one sync
  // per batch of imports. FULL would sync at every commit instead, every control request and
  // cursor acknowledgement included.
  // temp_store=MEMORY keeps the savepoints' statement journals off disk: in a batch every
  // operation is a savepoint, and spilling its journal to a temp file was most of its cost.
  return db.Exec(
      "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;");
}

}  // namespace

base::Result<std::unique_ptr<Inventory>> Inventory::Open(
    const std::filesystem::path& db_file, Vault vault, InventoryOptions options,
    const std::function<void(int64_t missing)>& before_names_fill) {
  return Guarded("opening the inventory", [&]() -> base::Result<std::unique_ptr<Inventory>> {
    if (!std::filesystem::exists(db_file)) {
      if (auto made = CreatePrivateFile(db_file); !made) return std::unexpected(made.error());
    }
    auto db = sqlite::Connection::Open(db_file);
    if (!db) return std::unexpected(db.error());
    if (auto ok = Configure(*db); !ok) return std::unexpected(ok.error());
    if (auto ok = ApplyMigrations(*db, EmbeddedMigrations(), std::time(nullptr)); !ok) {
      return std::unexpected(ok.error());
    }
    if (auto ok = FillMissingVersionNames(*db, before_names_fill); !ok) {
      return std::unexpected(ok.error());
    }
    auto impl = std::make_unique<Impl>(std::move(*db), std::move(vault), options);
    return std::unique_ptr<Inventory>(new Inventory(std::move(impl)));
  });
}

base::Result<std::unique_ptr<Inventory>> Inventory::OpenReadOnly(
    const std::filesystem::path& db_file, InventoryOptions options) {
  return Guarded("opening the inventory read-only",
                 [&]() -> base::Result<std::unique_ptr<Inventory>> {
                   auto db = sqlite::Connection::OpenReadOnly(db_file);
                   if (!db) return std::unexpected(db.error());
                   auto impl = std::make_unique<Impl>(std::move(*db), Vault::Keyless(), options);
                   return std::unique_ptr<Inventory>(new Inventory(std::move(impl)));
                 });
}

Inventory::Inventory(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Inventory::~Inventory() {
  if (impl_) impl_->Rollback();
}

base::Result<void> Inventory::Impl::Begin() {
  if (in_batch_ || !db_.Autocommit()) {
    return base::Fail(base::code::kStorageError, "Begin() while a batch is already open");
  }
  auto begin = db_.Prepare("BEGIN IMMEDIATE");
  if (!begin) return std::unexpected(begin.error());
  if (auto done = begin->Run(); !done) return done;
  in_batch_ = true;
  return {};
}

base::Result<void> Inventory::Impl::Commit() {
  if (!in_batch_) return base::Fail(base::code::kStorageError, "Commit() without Begin()");
  if (auto ok = CheckBatch(); !ok) {
    in_batch_ = false;
    return ok;
  }
  auto commit = db_.Prepare("COMMIT");
  if (!commit) {
    Rollback();
    return std::unexpected(commit.error());
  }
  auto done = commit->Run();
  if (!done) {
    // Nothing of the batch is kept: the caller must not act as if it had committed.
    Rollback();
    return done;
  }
  in_batch_ = false;
  return {};
}

base::Result<void> Inventory::Impl::SyncToDisk() {
  // SQLite's own handle of the WAL: its sync also syncs the directory once after the WAL was
  // created, which a descriptor of our own would not.
  sqlite3_file* wal = nullptr;
  if (int rc = sqlite3_file_control(db_.get(), "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
      rc != SQLITE_OK) {
    return base::Fail(base::code::kStorageError,
                      std::string("cannot find the WAL to sync: ") + sqlite3_errstr(rc));
  }
  // Not open yet: this connection has written nothing.
  if (wal == nullptr || wal->pMethods == nullptr) return {};
  errno = 0;
  if (int rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL); rc != SQLITE_OK) {
    const int os_error = errno;
    return base::Fail(
        base::code::kStorageError,
        std::string("cannot sync the WAL to disk: ") + sqlite3_errstr(rc) +
            (os_error != 0 ? std::string(" (") + std::strerror(os_error) + ")" : std::string()));
  }
  return {};
}

void Inventory::Impl::Rollback() noexcept {
  in_batch_ = false;
  if (!db_.Autocommit()) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

base::Result<void> Inventory::Impl::CheckBatch() const {
  if (in_batch_ && db_.Autocommit()) {
    return base::Fail(base::code::kStorageError,
                      "the batch was rolled back by SQLite after an earlier error: nothing "
                      "since Begin() is stored; call Rollback() and start again");
  }
  return {};
}

base::Result<nlohmann::json> Inventory::Impl::SummaryOfEntry(int64_t entry_id, base::UnixTime now) {
  auto st = db_.Prepare(std::string(kSummarySelect) + " WHERE e.id = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, entry_id);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row)
    return base::Fail(base::code::kNotFound, "no entry has id " + std::to_string(entry_id));
  return SummaryFromRow(*st, now, options_.expiry);
}

// The public surface: forwarders that keep exceptions inside storage/.

void Inventory::SetOptions(InventoryOptions options) { impl_->set_options(std::move(options)); }

const InventoryOptions& Inventory::options() const { return impl_->options(); }

void Inventory::HandOverCheckpoints(std::function<void(int wal_pages)> after_commit) {
  impl_->HandOverCheckpoints(std::move(after_commit));
}

void Inventory::Impl::HandOverCheckpoints(std::function<void(int wal_pages)> after_commit) {
  after_commit_ = std::move(after_commit);
  if (!after_commit_) {
    sqlite3_wal_autocheckpoint(db_.get(), kAutoCheckpointPages);  // SQLite's own hook again
    return;
  }
  // Replaces SQLite's own hook, the one sqlite3_wal_autocheckpoint installs.
  sqlite3_wal_hook(
      db_.get(),
      [](void* self, sqlite3* db, const char* name, int pages) -> int {
        auto* impl = static_cast<Impl*>(self);
        if (pages >= kInlineCheckpointPages) {
          // The caller's checkpoints have not kept up: this one, with no commit beside it,
          // lets the next commit start the WAL over. Its result is the next commit's concern.
          sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
          return SQLITE_OK;
        }
        try {
          if (impl->after_commit_) impl->after_commit_(pages);
        } catch (...) {
          // The commit has happened; a failed listener must not turn it into an error.
        }
        return SQLITE_OK;
      },
      this);
}

base::Result<void> Inventory::Begin() {
  return Guarded("Begin", [&] { return impl_->Begin(); });
}

base::Result<void> Inventory::Commit() {
  return Guarded("Commit", [&] { return impl_->Commit(); });
}

void Inventory::Rollback() { impl_->Rollback(); }

base::Result<void> Inventory::SyncToDisk() {
  return Guarded("SyncToDisk", [&] { return impl_->SyncToDisk(); });
}

base::Result<ImportOutcome> Inventory::Import(const ImportRequest& request) {
  return Guarded("import", [&] { return impl_->Import(request); });
}

base::Result<Event> Inventory::RecordRejection(const std::string& inbox, const std::string& file,
                                               const base::Error& reason, base::UnixTime now) {
  return Guarded("recording a rejection",
                 [&] { return impl_->RecordRejection(inbox, file, reason, now); });
}

base::Result<std::vector<std::pair<int64_t, std::string>>> Inventory::IncompleteChains(
    int64_t after_id, int64_t limit) {
  return Guarded("listing incomplete chains",
                 [&] { return impl_->IncompleteChains(after_id, limit); });
}

base::Result<std::optional<Event>> Inventory::UpdateChain(int64_t version_id,
                                                          const std::vector<std::string>& chain,
                                                          const std::vector<std::string>& findings,
                                                          base::UnixTime now) {
  return Guarded("updating a chain",
                 [&] { return impl_->UpdateChain(version_id, chain, findings, now); });
}

base::Result<Event> Inventory::RollbackTo(const std::string& entry, int64_t to,
                                          base::UnixTime now) {
  return Guarded("rollback", [&] { return impl_->RollbackTo(entry, to, now); });
}

base::Result<MetaOutcome> Inventory::UpdateMeta(const std::string& entry, const MetaChange& change,
                                                base::UnixTime now) {
  return Guarded("updating metadata", [&] { return impl_->UpdateMeta(entry, change, now); });
}

base::Result<std::vector<std::string>> Inventory::CaCertificates() {
  return Guarded("listing CA certificates", [&] { return impl_->CaCertificates(); });
}

base::Result<nlohmann::json> Inventory::List(const ListFilter& filter, base::UnixTime now) {
  return Guarded("listing", [&] { return impl_->List(filter, now); });
}

base::Result<ListPage> Inventory::ListPageOf(const ListFilter& filter,
                                             const std::optional<ListKey>& after, int64_t limit,
                                             size_t max_bytes, base::UnixTime now) {
  return Guarded("listing",
                 [&] { return impl_->ListPageOf(filter, after, limit, max_bytes, now); });
}

base::Result<nlohmann::json> Inventory::Show(const std::string& name_or_id, base::UnixTime now) {
  return Guarded("show", [&] { return impl_->Show(name_or_id, now); });
}

base::Result<BindOutcome> Inventory::Bind(const std::string& entry, const std::string& resource,
                                          const std::optional<std::string>& plugin,
                                          base::UnixTime now) {
  return Guarded("binding", [&] { return impl_->Bind(entry, resource, plugin, now); });
}

base::Result<Event> Inventory::Unbind(const std::string& entry, const std::string& resource,
                                      base::UnixTime now) {
  return Guarded("unbinding", [&] { return impl_->Unbind(entry, resource, now); });
}

base::Result<DeleteOutcome> Inventory::Delete(const std::vector<std::string>& entries,
                                              base::UnixTime now) {
  return Guarded("deleting", [&] { return impl_->Delete(entries, now); });
}

base::Result<ReconcileOutcome> Inventory::ReconcileBindings(
    const std::vector<DeclaredBinding>& declared, base::UnixTime now) {
  return Guarded("reconciling bindings", [&] { return impl_->ReconcileBindings(declared, now); });
}

base::Result<nlohmann::json> Inventory::UnmatchedKeys() {
  return Guarded("listing unmatched keys", [&] { return impl_->UnmatchedKeys(); });
}

base::Result<Event> Inventory::AppendEvent(const std::string& type, nlohmann::json fields,
                                           base::UnixTime now) {
  return Guarded("writing an event", [&]() -> base::Result<Event> {
    if (auto ok = impl_->CheckBatch(); !ok) return std::unexpected(ok.error());
    auto tx = sqlite::Transaction::Start(impl_->db());
    if (!tx) return std::unexpected(tx.error());
    auto event = outbox::Append(impl_->db(), type, now, std::move(fields));
    if (!event) return event;
    if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
    return event;
  });
}

base::Result<std::vector<Event>> Inventory::EventsSince(int64_t since, int limit) {
  return Guarded("reading events", [&] { return outbox::Since(impl_->db(), since, limit); });
}

base::Result<std::vector<Event>> Inventory::EventsOfEntry(int64_t entry_id, int limit) {
  return Guarded("reading events", [&] { return outbox::OfEntry(impl_->db(), entry_id, limit); });
}

base::Result<int64_t> Inventory::FirstSeq() {
  return Guarded("reading the outbox", [&] { return outbox::FirstSeq(impl_->db()); });
}

base::Result<int64_t> Inventory::AckCursor(const std::string& name, int64_t seq,
                                           base::UnixTime now) {
  return Guarded("moving a cursor", [&]() -> base::Result<int64_t> {
    if (auto ok = impl_->CheckBatch(); !ok) return std::unexpected(ok.error());
    auto last = outbox::LastSeq(impl_->db());
    if (!last) return last;
    if (seq < 0 || seq > *last) {
      return base::Fail(base::code::kBadRequest, "seq " + std::to_string(seq) +
                                                     " is not an event seq (the last one is " +
                                                     std::to_string(*last) + ")");
    }
    return outbox::AckCursor(impl_->db(), name, seq, now);
  });
}

base::Result<std::optional<int64_t>> Inventory::CursorSeq(const std::string& name) {
  return Guarded("reading a cursor", [&] { return outbox::CursorSeq(impl_->db(), name); });
}

base::Result<std::optional<int64_t>> Inventory::FirstEventMatching(
    int64_t after, const std::vector<std::string>& prefixes) {
  return Guarded("reading the outbox",
                 [&] { return outbox::FirstMatching(impl_->db(), after, prefixes); });
}

base::Result<std::vector<Cursor>> Inventory::Cursors() {
  return Guarded("listing cursors", [&] { return outbox::Cursors(impl_->db()); });
}

base::Result<bool> Inventory::DeleteCursor(const std::string& name) {
  return Guarded("deleting a cursor", [&]() -> base::Result<bool> {
    if (auto ok = impl_->CheckBatch(); !ok) return std::unexpected(ok.error());
    return outbox::DeleteCursor(impl_->db(), name);
  });
}

base::Result<int64_t> Inventory::PruneEvents(base::UnixTime before, int64_t published_seq,
                                             int limit) {
  return Guarded("pruning events", [&]() -> base::Result<int64_t> {
    if (auto ok = impl_->CheckBatch(); !ok) return std::unexpected(ok.error());
    return outbox::Prune(impl_->db(), before, published_seq, limit);
  });
}

base::Result<int64_t> Inventory::PublishedSeq() {
  return Guarded("reading the publish cursor", [&] { return outbox::PublishedSeq(impl_->db()); });
}

base::Result<void> Inventory::SetPublishedSeq(int64_t seq) {
  return Guarded("moving the publish cursor", [&]() -> base::Result<void> {
    if (auto ok = impl_->CheckBatch(); !ok) return ok;
    return outbox::SetPublishedSeq(impl_->db(), seq);
  });
}

base::Result<Counts> Inventory::Count(base::UnixTime now) {
  return Guarded("counting", [&] { return impl_->Count(now); });
}

base::Result<std::vector<Event>> Inventory::ScanExpiry(base::UnixTime now) {
  return Guarded("the expiry scan", [&] { return impl_->ScanExpiry(now); });
}

base::Result<Event> Inventory::CreateCsr(const NewCsr& request) {
  return Guarded("storing a CSR", [&] { return impl_->CreateCsr(request); });
}

base::Result<nlohmann::json> Inventory::CsrOf(const std::string& name_or_id, base::UnixTime now) {
  return Guarded("reading a CSR", [&] { return impl_->CsrOf(name_or_id, now); });
}

base::Result<ExportMaterial> Inventory::ExportMaterialFor(const std::string& name_or_id,
                                                          bool with_key, base::UnixTime now) {
  return Guarded("export", [&] { return impl_->ExportMaterialFor(name_or_id, with_key, now); });
}

base::Result<void> Inventory::RecordKeyExport(const KeyExportRecord& record) {
  return Guarded("recording a key export", [&] { return impl_->RecordKeyExport(record); });
}

base::Result<nlohmann::json> Inventory::KeyExports(int64_t entry_id) {
  return Guarded("listing key exports", [&] { return impl_->KeyExports(entry_id); });
}

std::string Inventory::Tag(std::string_view message) const {
  auto tag = impl_->Tag(message);
  return tag ? std::move(*tag) : std::string();
}

base::Result<std::optional<ResourceBinding>> Inventory::BindingOfResource(
    const std::string& resource) {
  return Guarded("finding a binding", [&] { return impl_->BindingOfResource(resource); });
}

base::Result<nlohmann::json> Inventory::PluginBindings(const std::string& plugin,
                                                       base::UnixTime now) {
  return Guarded("listing a plugin's bindings", [&] { return impl_->PluginBindings(plugin, now); });
}

base::Result<Event> Inventory::RecordPush(const PushRecord& record) {
  return Guarded("recording a push", [&] { return impl_->RecordPush(record); });
}

base::Result<pipeline::SecretBytes> Inventory::PrivateKeyFor(const std::string& spki_sha256) {
  return Guarded("reading a private key", [&] { return impl_->PrivateKeyFor(spki_sha256); });
}

}  // namespace certinbox::storage
