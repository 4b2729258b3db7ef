// Bindings: an entry bound to a resource, made by `certinbox bind`, a sidecar's `bind` or the
// config's [[binding]] (reconciled on start and reload), removed by `certinbox unbind` or by
// reconciliation. A resource is bound to one entry at most (migration 004).
#include <set>

#include "base/error.h"
#include "base/error_codes.h"
#include "base/time.h"
#include "base/wire.h"
#include "pipeline/names.h"
#include "storage/inventory_impl.h"
#include "storage/outbox.h"
#include "storage/summary.h"

namespace certinbox::storage {

namespace {

struct BindingRow {
  int64_t id = 0;
  int64_t entry_id = 0;
  std::string resource;
  std::optional<std::string> plugin;
  std::string source;
  std::string holder;  // GROUP/NAME of the bound entry
};

constexpr std::string_view kBindingSelect =
    "SELECT b.id, b.entry_id, b.resource, b.plugin, b.source, e.grp || '/' || e.name"
    " FROM bindings b JOIN entries e ON e.id = b.entry_id";

BindingRow RowOf(const sqlite::Statement& st) {
  BindingRow row{.id = st.Int(0),
                 .entry_id = st.Int(1),
                 .resource = st.Text(2),
                 .source = st.Text(4),
                 .holder = st.Text(5)};
  if (!st.IsNull(3)) row.plugin = st.Text(3);
  return row;
}

base::Result<std::optional<BindingRow>> FindBinding(sqlite::Connection& db,
                                                    const std::string& resource) {
  auto st = db.Prepare(std::string(kBindingSelect) + " WHERE b.resource = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, resource);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<BindingRow>();
  return std::optional<BindingRow>(RowOf(*st));
}

base::Result<std::vector<BindingRow>> ConfigBindings(sqlite::Connection& db) {
  auto st =
      db.Prepare(std::string(kBindingSelect) + " WHERE b.source = 'config' ORDER BY b.resource");
  if (!st) return std::unexpected(st.error());
  std::vector<BindingRow> out;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(RowOf(*st));
  }
}

base::Result<void> InsertBinding(sqlite::Connection& db, int64_t entry_id,
                                 const std::string& resource,
                                 const std::optional<std::string>& plugin, std::string_view source,
                                 base::UnixTime now) {
  auto st = db.Prepare(
      "INSERT INTO bindings (entry_id, resource, plugin, source, created_at)"
      " VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, entry_id).Bind(2, resource);
  if (plugin) {
    st->Bind(3, *plugin);
  } else {
    st->Bind(3, std::nullopt);
  }
  st->Bind(4, source).Bind(5, now);
  return st->Run();
}

// A new plugin means a new consumer: the push record starts again.
base::Result<void> UpdateBinding(sqlite::Connection& db, int64_t id,
                                 const std::optional<std::string>& plugin, std::string_view source,
                                 bool plugin_changed) {
  auto st = db.Prepare(plugin_changed
                           ? "UPDATE bindings SET plugin = ?2, source = ?3, pushed_version = NULL,"
                             " pushed_at = NULL, last_push_at = NULL, last_push_result = NULL,"
                             " last_push_message = NULL WHERE id = ?1"
                           : "UPDATE bindings SET plugin = ?2, source = ?3 WHERE id = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, id);
  if (plugin) {
    st->Bind(2, *plugin);
  } else {
    st->Bind(2, std::nullopt);
  }
  st->Bind(3, source);
  return st->Run();
}

base::Result<void> DeleteBinding(sqlite::Connection& db, int64_t id) {
  auto st = db.Prepare("DELETE FROM bindings WHERE id = ?1");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, id);
  return st->Run();
}

// Printable, bounded names: they end up in tables, logs and plugins' arguments.
base::Result<void> CheckName(std::string_view text, std::string_view what, const char* code) {
  if (text.empty() || text.size() > 255) {
    return base::Fail(code, std::string(what) + " must be 1 to 255 bytes long");
  }
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      return base::Fail(code, std::string(what) + " must not hold control characters");
    }
  }
  if (text.front() == ' ' || text.back() == ' ') {
    return base::Fail(code, std::string(what) + " \"" + std::string(text) +
                                "\" must not start or end with a space");
  }
  return {};
}

std::string ByWhom(std::string_view source) {
  if (source == "config") return "the config's [[binding]]";
  if (source == "sidecar") return "a sidecar's bind";
  return "certinbox bind";
}

nlohmann::json PluginJson(const std::optional<std::string>& plugin) {
  return plugin ? nlohmann::json(*plugin) : nlohmann::json(nullptr);
}

// A declaration the config cannot apply now, with why, for `reconcile`'s answer.
void AddProblem(ReconcileOutcome& outcome, const DeclaredBinding& d, const char* state,
                std::string message) {
  outcome.problems.push_back({{"entry", d.entry},
                              {"resource", d.resource},
                              {"state", state},
                              {"message", std::move(message)}});
}

}  // namespace

base::Result<void> CheckResourceName(std::string_view resource) {
  if (auto ok = pipeline::CheckName(resource, pipeline::NameKind::kResource); !ok) return ok;
  return CheckName(resource, "a resource name", base::code::kBadResource);
}

base::Result<Event> Inventory::Impl::BindingEvent(const char* type, int64_t entry_id,
                                                  const std::string& resource,
                                                  const std::optional<std::string>& plugin,
                                                  base::UnixTime now) {
  return EntryEvent(
      entry_id, type,
      {{base::field::kResource, resource}, {base::field::kPlugin, PluginJson(plugin)}}, now);
}

base::Result<std::optional<Event>> Inventory::Impl::PutBinding(
    int64_t entry_id, const std::string& resource, const std::optional<std::string>& plugin,
    std::string_view source, base::UnixTime now) {
  if (auto ok = CheckResourceName(resource); !ok) return std::unexpected(ok.error());
  if (plugin) {
    if (auto ok = CheckName(*plugin, "a plugin name", base::code::kBadPlugin); !ok) {
      return std::unexpected(ok.error());
    }
  }
  auto existing = FindBinding(db_, resource);
  if (!existing) return std::unexpected(existing.error());
  if (*existing) {
    const BindingRow& row = **existing;
    if (row.entry_id != entry_id) {
      return base::Fail(base::code::kResourceBound,
                        resource + " is already bound to " + row.holder + " (by " +
                            ByWhom(row.source) + "); a resource serves one certificate: " +
                            (row.source == "config" ? "change the config's [[binding]] for it"
                                                    : "unbind it first (certinbox unbind " +
                                                          row.holder + " " + resource + ")"));
    }
    if (row.plugin == plugin) return std::optional<Event>();  // already so: nothing to announce
    if (row.source == "config" && source != "config") {
      return base::Fail(base::code::kDeclared,
                        row.holder + " is bound to " + resource +
                            " by the config's [[binding]]: change its plugin there "
                            "and reload");
    }
    if (auto done = UpdateBinding(db_, row.id, plugin, row.source, /*plugin_changed=*/true);
        !done) {
      return std::unexpected(done.error());
    }
  } else if (auto done = InsertBinding(db_, entry_id, resource, plugin, source, now); !done) {
    return std::unexpected(done.error());
  }
  auto event = BindingEvent(base::topic::kCertBound, entry_id, resource, plugin, now);
  if (!event) return std::unexpected(event.error());
  return std::optional<Event>(std::move(*event));
}

base::Result<BindOutcome> Inventory::Impl::Bind(const std::string& entry,
                                                const std::string& resource,
                                                const std::optional<std::string>& plugin,
                                                base::UnixTime now) {
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());
  auto entry_id = ResolveEntry(entry);
  if (!entry_id) return std::unexpected(entry_id.error());
  auto event = PutBinding(*entry_id, resource, plugin, "cli", now);
  if (!event) return std::unexpected(event.error());
  auto row = FindBinding(db_, resource);
  if (!row) return std::unexpected(row.error());
  if (!*row)
    return base::Fail(base::code::kStorageError, "the binding of " + resource + " vanished");
  BindOutcome outcome;
  outcome.event = std::move(*event);
  outcome.binding = {{"entry", (*row)->holder},
                     {"id", *entry_id},
                     {"resource", resource},
                     {"plugin", PluginJson((*row)->plugin)},
                     {"source", (*row)->source}};
  if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
  return outcome;
}

base::Result<Event> Inventory::Impl::Unbind(const std::string& entry, const std::string& resource,
                                            base::UnixTime now) {
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());
  auto entry_id = ResolveEntry(entry);
  if (!entry_id) return std::unexpected(entry_id.error());
  auto existing = FindBinding(db_, resource);
  if (!existing) return std::unexpected(existing.error());
  if (!*existing) {
    return base::Fail(base::code::kNotFound, "nothing is bound to " + resource +
                                                 ": `certinbox show " + entry +
                                                 "` lists the entry's bindings");
  }
  const BindingRow& row = **existing;
  if (row.entry_id != *entry_id) {
    return base::Fail(base::code::kNotFound,
                      resource + " is bound to " + row.holder + ", not to " + entry);
  }
  if (row.source == "config") {
    return base::Fail(base::code::kDeclared,
                      row.holder + " is bound to " + resource +
                          " by the config's [[binding]]: remove it there and "
                          "reload (an unbind here would be undone by the next "
                          "reload)");
  }
  if (auto done = DeleteBinding(db_, row.id); !done) return std::unexpected(done.error());
  auto event = BindingEvent(base::topic::kCertUnbound, row.entry_id, row.resource, row.plugin, now);
  if (!event) return std::unexpected(event.error());
  if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
  return std::move(*event);
}

base::Result<ReconcileOutcome> Inventory::Impl::ReconcileBindings(
    const std::vector<DeclaredBinding>& declared, base::UnixTime now) {
  if (auto ok = CheckBatch(); !ok) return std::unexpected(ok.error());
  auto tx = sqlite::Transaction::Start(db_);
  if (!tx) return std::unexpected(tx.error());
  ReconcileOutcome outcome;

  // 1. Which entry each declaration means now. Names only: an id in a config would bind
  //    whatever entry gets that number.
  std::set<std::string> declared_resources;
  std::vector<std::pair<const DeclaredBinding*, int64_t>> resolved;
  for (const DeclaredBinding& d : declared) {
    declared_resources.insert(d.resource);
    if (auto ok = CheckResourceName(d.resource); !ok) {
      AddProblem(outcome, d, "invalid", ok.error().message);
      continue;
    }
    if (d.plugin) {
      if (auto ok = CheckName(*d.plugin, "a plugin name", base::code::kBadPlugin); !ok) {
        AddProblem(outcome, d, "invalid", ok.error().message);
        continue;
      }
    }
    auto entry_id = ResolveEntry(d.entry, /*allow_id=*/false);
    if (entry_id) {
      resolved.emplace_back(&d, *entry_id);
    } else if (entry_id.error().code == base::code::kNotFound) {
      AddProblem(outcome, d, "pending",
                 "no entry is named " + d.entry + " yet: " + d.resource +
                     " is bound to it when it is imported or made by `certinbox csr create`");
    } else if (entry_id.error().code == base::code::kAmbiguous) {
      AddProblem(outcome, d, "ambiguous", entry_id.error().message);
    } else {
      return std::unexpected(entry_id.error());
    }
  }

  // 2. What the config bound and no longer declares. A declaration that cannot be applied now
  //    keeps what it bound before: a certificate stays served until its successor is known.
  auto config_rows = ConfigBindings(db_);
  if (!config_rows) return std::unexpected(config_rows.error());
  for (const BindingRow& row : *config_rows) {
    if (declared_resources.contains(row.resource)) continue;
    if (auto done = DeleteBinding(db_, row.id); !done) return std::unexpected(done.error());
    auto event =
        BindingEvent(base::topic::kCertUnbound, row.entry_id, row.resource, row.plugin, now);
    if (!event) return std::unexpected(event.error());
    outcome.events.push_back(std::move(*event));
  }

  // 3. What it declares.
  for (const auto& [d, entry_id] : resolved) {
    if (auto done = ApplyDeclaredBinding(*d, entry_id, now, outcome); !done) {
      return std::unexpected(done.error());
    }
  }
  if (auto done = tx->Commit(); !done) return std::unexpected(done.error());
  return outcome;
}

// Step 3 of ReconcileBindings for one declaration that names entry `entry_id`.
base::Result<void> Inventory::Impl::ApplyDeclaredBinding(const DeclaredBinding& d, int64_t entry_id,
                                                         base::UnixTime now,
                                                         ReconcileOutcome& outcome) {
  auto existing = FindBinding(db_, d.resource);
  if (!existing) return std::unexpected(existing.error());
  if (*existing && (*existing)->entry_id == entry_id) {
    const BindingRow& row = **existing;
    const bool plugin_changed = row.plugin != d.plugin;
    if (!plugin_changed && row.source == "config") return {};
    // Made by hand or by a sidecar and now declared: the config owns it from here on.
    if (auto done = UpdateBinding(db_, row.id, d.plugin, "config", plugin_changed); !done) {
      return std::unexpected(done.error());
    }
    if (!plugin_changed) return {};
    auto event = BindingEvent(base::topic::kCertBound, entry_id, d.resource, d.plugin, now);
    if (!event) return std::unexpected(event.error());
    outcome.events.push_back(std::move(*event));
    return {};
  }
  if (*existing) {
    const BindingRow& row = **existing;
    if (row.source != "config") {
      AddProblem(outcome, d, "conflict",
                 d.resource + " is bound to " + row.holder + " by " + ByWhom(row.source) +
                     ", and the config binds it to " + d.entry + ": `certinbox unbind " +
                     row.holder + " " + d.resource + "` lets the config's binding be made");
      return {};
    }
    // The config moved the resource to another entry.
    if (auto done = DeleteBinding(db_, row.id); !done) return std::unexpected(done.error());
    auto event =
        BindingEvent(base::topic::kCertUnbound, row.entry_id, row.resource, row.plugin, now);
    if (!event) return std::unexpected(event.error());
    outcome.events.push_back(std::move(*event));
  }
  if (auto done = InsertBinding(db_, entry_id, d.resource, d.plugin, "config", now); !done) {
    return std::unexpected(done.error());
  }
  auto event = BindingEvent(base::topic::kCertBound, entry_id, d.resource, d.plugin, now);
  if (!event) return std::unexpected(event.error());
  outcome.events.push_back(std::move(*event));
  return {};
}

base::Result<nlohmann::json> Inventory::Impl::BindingDetails(int64_t entry_id) {
  auto st = db_.Prepare(
      "SELECT resource, plugin, source, created_at, pushed_version, pushed_at, last_push_at,"
      " last_push_result, last_push_message FROM bindings WHERE entry_id = ?1"
      " ORDER BY resource");
  if (!st) return std::unexpected(st.error());
  st->Bind(1, entry_id);
  auto time_or_null = [&](int column) {
    return st->IsNull(column) ? nlohmann::json(nullptr)
                              : nlohmann::json(base::FormatRfc3339(st->Int(column)));
  };
  auto text_or_null = [&](int column) {
    return st->IsNull(column) ? nlohmann::json(nullptr) : nlohmann::json(st->Text(column));
  };
  nlohmann::json out = nlohmann::json::array();
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(
        {{"resource", st->Text(0)},
         {"plugin", text_or_null(1)},
         {"source", st->Text(2)},
         {"created_at", base::FormatRfc3339(st->Int(3))},
         {"pushed_version", st->IsNull(4) ? nlohmann::json(nullptr) : nlohmann::json(st->Int(4))},
         {"pushed_at", time_or_null(5)},
         {"last_push_at", time_or_null(6)},
         {"last_push_result", text_or_null(7)},
         {"last_push_message", text_or_null(8)}});
  }
}

}  // namespace certinbox::storage
