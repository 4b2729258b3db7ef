// Bindings and delete: Bind/Unbind, one entry per resource, Delete's refusals and per-entry
// results, what a delete takes with it, ReconcileBindings and a sidecar's `bind`.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "storage/inventory.h"
#include "tests/storage/drop_fixture.h"

namespace certinbox::storage {
namespace {

using nlohmann::json;
using test::Drop;
using test::kDay;
using test::kNow;
using test::Payload;
using testing::Issue;
using testing::Issued;

class BindingsTest : public test::InventoryTest {
 protected:
  // Imports a leaf with its key, named `name`; returns it.
  Issued ImportLeaf(const std::string& name, std::vector<std::string> chain = {}) {
    Issued leaf = Issue(test::Leaf(name + ".example"));
    Drop drop;
    drop.Cert(leaf, /*with_key=*/true, {}, std::move(chain));
    MustImport(drop.Request(name + ".pem", test::Named(name)));
    return leaf;
  }

  Issued ImportCa(const std::string& name) {
    Issued ca = Issue(test::Ca(name));
    Drop drop;
    drop.Cert(ca, /*with_key=*/false, {"self_signed"});
    MustImport(drop.Request(name + ".pem", test::Named(name)));
    return ca;
  }

  BindOutcome MustBind(const std::string& entry, const std::string& resource,
                       std::optional<std::string> plugin = std::nullopt) {
    auto bound = inventory_->Bind(entry, resource, plugin, kNow);
    EXPECT_TRUE(bound) << bound.error().code << ": " << bound.error().message;
    return bound ? std::move(*bound) : BindOutcome{};
  }

  DeleteOutcome MustDelete(const std::vector<std::string>& names) {
    auto deleted = inventory_->Delete(names, kNow);
    EXPECT_TRUE(deleted) << deleted.error().code << ": " << deleted.error().message;
    return deleted ? std::move(*deleted) : DeleteOutcome{};
  }

  ReconcileOutcome MustReconcile(const std::vector<DeclaredBinding>& declared) {
    auto done = inventory_->ReconcileBindings(declared, kNow);
    EXPECT_TRUE(done) << done.error().code << ": " << done.error().message;
    return done ? std::move(*done) : ReconcileOutcome{};
  }

  json MustShow(const std::string& entry) {
    auto shown = inventory_->Show(entry, kNow);
    EXPECT_TRUE(shown) << shown.error().code << ": " << shown.error().message;
    return shown ? *shown : json();
  }

  // Resources bound to `entry`, in order, with the source each came from: "R=source".
  std::vector<std::string> BoundTo(const std::string& entry) {
    std::vector<std::string> out;
    json shown = MustShow(entry);
    for (const auto& b : shown["bindings"]) {
      out.push_back(b["resource"].get<std::string>() + "=" + b["source"].get<std::string>());
    }
    return out;
  }

  // COUNT(*) of a table, read with a second connection.
  int64_t Rows(const std::string& table) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, ("SELECT COUNT(*) FROM " + table).c_str(), -1, &st, nullptr),
              SQLITE_OK);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }

  static std::vector<std::string> Types(const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const Event& e : events) {
      json p = Payload(e);
      out.push_back(e.type + " " + p["certificate"]["name"].get<std::string>() +
                    (p.contains("resource") ? " " + p["resource"].get<std::string>() : ""));
    }
    return out;
  }
};

TEST_F(BindingsTest, BindWritesCertBoundAndTheSummaryListsTheBinding) {
  ImportLeaf("web");
  BindOutcome out = MustBind("web", "lb-prod:443", "deploy");
  ASSERT_TRUE(out.event);
  EXPECT_EQ(out.event->type, "cert.bound");
  json p = Payload(*out.event);
  EXPECT_EQ(p["resource"], "lb-prod:443");
  EXPECT_EQ(p["plugin"], "deploy");
  EXPECT_EQ(p["certificate"]["name"], "web");
  EXPECT_EQ(p["certificate"]["bindings"],
            json::parse(R"([{"resource": "lb-prod:443", "plugin": "deploy"}])"));
  EXPECT_EQ(out.binding["source"], "cli");
  EXPECT_EQ(out.binding["entry"], "default/web");

  json shown = MustShow("web");
  ASSERT_EQ(shown["bindings"].size(), 1u) << shown.dump(2);
  const json& b = shown["bindings"][0];
  EXPECT_EQ(b["resource"], "lb-prod:443");
  EXPECT_EQ(b["plugin"], "deploy");
  EXPECT_EQ(b["source"], "cli");
  EXPECT_EQ(b["created_at"], "2026-11-23T09:00:00Z");
  EXPECT_TRUE(b["pushed_version"].is_null());
  EXPECT_TRUE(b["last_push_result"].is_null());
  EXPECT_EQ(MustList()[0]["bindings"], p["certificate"]["bindings"]);
}

TEST_F(BindingsTest, BindingAgainIsIdempotentUnlessThePluginChanges) {
  ImportLeaf("web");
  ASSERT_TRUE(MustBind("web", "lb:443", "deploy").event);
  EXPECT_FALSE(MustBind("web", "lb:443", "deploy").event);
  BindOutcome changed = MustBind("web", "lb:443");  // no plugin now
  ASSERT_TRUE(changed.event);
  EXPECT_TRUE(Payload(*changed.event)["plugin"].is_null());
  EXPECT_FALSE(MustBind("web", "lb:443").event);
  EXPECT_EQ(BoundTo("web"), std::vector<std::string>{"lb:443=cli"});
}

TEST_F(BindingsTest, AResourceServesOneEntry) {
  ImportLeaf("a");
  ImportLeaf("b");
  MustBind("a", "lb:443");
  auto refused = inventory_->Bind("b", "lb:443", std::nullopt, kNow);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "resource_bound");
  EXPECT_NE(refused.error().message.find("default/a"), std::string::npos)
      << refused.error().message;
  EXPECT_TRUE(BoundTo("b").empty());
  // An entry may serve several resources.
  MustBind("a", "lb:8443");
  EXPECT_EQ(BoundTo("a"), (std::vector<std::string>{"lb:443=cli", "lb:8443=cli"}));
}

TEST_F(BindingsTest, SummaryListsBindingsByResource) {
  ImportLeaf("web");
  MustBind("web", "z:1");
  MustBind("web", "m:1", "deploy");
  BindOutcome last = MustBind("web", "a:1");
  ASSERT_TRUE(last.event);
  EXPECT_EQ(Payload(*last.event)["certificate"]["bindings"],
            json::parse(R"([{"resource": "a:1", "plugin": null},
                            {"resource": "m:1", "plugin": "deploy"},
                            {"resource": "z:1", "plugin": null}])"));
}

TEST_F(BindingsTest, BadNamesAndUnknownEntriesAreRefused) {
  ImportLeaf("web");
  struct Case {
    std::string entry, resource;
    std::optional<std::string> plugin;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"web", "", std::nullopt, "bad_resource"},
      {"web", " lb:443", std::nullopt, "bad_resource"},
      {"web", "lb:443 ", std::nullopt, "bad_resource"},
      {"web", "lb\n443", std::nullopt, "bad_resource"},
      {"web", std::string(256, 'x'), std::nullopt, "bad_resource"},
      {"web", "lb:443", "", "bad_plugin"},
      {"web", "lb:443", "de\tploy", "bad_plugin"},
      {"nope", "lb:443", std::nullopt, "not_found"},
  };
  for (const Case& c : cases) {
    auto bound = inventory_->Bind(c.entry, c.resource, c.plugin, kNow);
    ASSERT_FALSE(bound) << c.resource;
    EXPECT_EQ(bound.error().code, c.code) << c.resource << ": " << bound.error().message;
  }
  EXPECT_TRUE(MustShow("web")["bindings"].empty());
  EXPECT_TRUE(MustBind("web", std::string(255, 'x')).event);
}

TEST_F(BindingsTest, UnbindWritesCertUnbound) {
  ImportLeaf("a");
  ImportLeaf("b");
  MustBind("a", "lb:443", "deploy");
  auto other = inventory_->Unbind("b", "lb:443", kNow);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, "not_found");
  auto none = inventory_->Unbind("a", "nothing:1", kNow);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, "not_found");

  auto unbound = inventory_->Unbind("a", "lb:443", kNow);
  ASSERT_TRUE(unbound) << unbound.error().message;
  EXPECT_EQ(unbound->type, "cert.unbound");
  json p = Payload(*unbound);
  EXPECT_EQ(p["resource"], "lb:443");
  EXPECT_EQ(p["plugin"], "deploy");
  EXPECT_EQ(p["certificate"]["bindings"], json::array());
  // The resource is free for another entry now.
  EXPECT_TRUE(MustBind("b", "lb:443").event);
}

TEST_F(BindingsTest, DeleteOfABoundEntryIsRefusedNamingEveryResource) {
  ImportLeaf("web");
  MustBind("web", "lb-prod:443");
  MustBind("web", "lb-stage:443");
  DeleteOutcome out = MustDelete({"web"});
  EXPECT_TRUE(out.events.empty());
  EXPECT_EQ(out.deleted, 0);
  EXPECT_EQ(out.not_deleted, 1);
  ASSERT_EQ(out.results.size(), 1u);
  const json& r = out.results[0];
  EXPECT_EQ(r["entry"], "web");
  EXPECT_EQ(r["outcome"], "refused");
  EXPECT_EQ(r["error"]["code"], "bound");
  EXPECT_EQ(r["resources"], json::array({"lb-prod:443", "lb-stage:443"}));
  std::string message = r["error"]["message"];
  EXPECT_NE(message.find("lb-prod:443"), std::string::npos) << message;
  EXPECT_NE(message.find("lb-stage:443"), std::string::npos) << message;
  EXPECT_EQ(MustList().size(), 1u);
}

TEST_F(BindingsTest, BatchDeleteReportsEachEntryAndDeletesTheFreeOnes) {
  ImportLeaf("bound");
  Issued free_leaf = ImportLeaf("free");
  MustBind("bound", "lb:443");
  auto counts_before = inventory_->Count(kNow);
  ASSERT_TRUE(counts_before);

  DeleteOutcome out = MustDelete({"bound", "free", "missing"});
  EXPECT_EQ(out.deleted, 1);
  EXPECT_EQ(out.not_deleted, 2);
  ASSERT_EQ(out.results.size(), 3u);
  EXPECT_EQ(out.results[0]["outcome"], "refused");
  EXPECT_EQ(out.results[0]["error"]["code"], "bound");
  EXPECT_EQ(out.results[1]["entry"], "free");
  EXPECT_EQ(out.results[1]["outcome"], "deleted");
  EXPECT_EQ(out.results[1]["name"], "free");
  EXPECT_EQ(out.results[1]["group"], "default");
  EXPECT_FALSE(out.results[1].contains("error"));
  EXPECT_EQ(out.results[2]["outcome"], "failed");
  EXPECT_EQ(out.results[2]["error"]["code"], "not_found");

  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].type, "cert.deleted");
  json c = Payload(out.events[0])["certificate"];
  EXPECT_EQ(c["name"], "free");
  EXPECT_EQ(c["fingerprint_sha256"], free_leaf.Fingerprint());
  EXPECT_EQ(c["has_private_key"], true);  // the summary as it was

  json list = MustList();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "bound");
  auto shown = inventory_->Show("free", kNow);
  ASSERT_FALSE(shown);
  EXPECT_EQ(shown.error().code, "not_found");
  // Its key went with it: not kept, and not turned into a key waiting for its certificate.
  EXPECT_FALSE(inventory_->PrivateKeyFor(free_leaf.SpkiFingerprint()));
  auto counts = inventory_->Count(kNow);
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->unmatched_keys, 0);
  EXPECT_EQ(counts->entries, 1);
  EXPECT_EQ(counts->last_seq, out.events[0].seq);
  EXPECT_EQ(Rows("versions"), 1);
  EXPECT_EQ(Rows("keys"), 1);

  // Dropped again, the same certificate is a new entry, not a duplicate of a deleted one.
  Drop again;
  again.Cert(free_leaf, true);
  EXPECT_EQ(MustImport(again.Request("free-again.pem")).new_entries, 1);
}

TEST_F(BindingsTest, DeleteTakesExpiryNoticesAndKeepsKeysOtherVersionsUse) {
  // Two certificates of one key: two entries sharing a key row.
  Issued first = Issue(test::Leaf("one.example", 10));
  Issued second = Issue(test::Leaf("two.example", 10), nullptr, first.key.get());
  Drop drop_one, drop_two;
  drop_one.Cert(first, true);
  drop_two.Cert(second, true);
  MustImport(drop_one.Request("one.pem", test::Named("one")));
  MustImport(drop_two.Request("two.pem", test::Named("two")));
  auto scanned = test::ScanExpiryDays(*inventory_, {30, 14}, kNow);
  ASSERT_TRUE(scanned) << scanned.error().message;
  EXPECT_EQ(scanned->size(), 2u);
  EXPECT_EQ(Rows("expiry_notices"), 4);  // 14 announced, 30 passed over, per version

  DeleteOutcome out = MustDelete({"one"});
  EXPECT_EQ(out.deleted, 1);
  EXPECT_EQ(Rows("expiry_notices"), 2);
  EXPECT_EQ(Rows("keys"), 1);
  EXPECT_TRUE(inventory_->PrivateKeyFor(first.SpkiFingerprint()));
  EXPECT_EQ(MustShow("two")["has_private_key"], true);

  MustDelete({"two"});
  EXPECT_EQ(Rows("keys"), 0);
  EXPECT_EQ(Rows("expiry_notices"), 0);
  EXPECT_EQ(Rows("entries"), 0);
}

TEST_F(BindingsTest, ACaIsKeptWhileEntriesThatStayChainToIt) {
  Issued ca = ImportCa("root");
  ImportLeaf("leaf", {ca.Fingerprint()});

  DeleteOutcome alone = MustDelete({"root"});
  ASSERT_EQ(alone.results.size(), 1u);
  EXPECT_EQ(alone.results[0]["outcome"], "refused");
  EXPECT_EQ(alone.results[0]["error"]["code"], "ca_in_use");
  EXPECT_EQ(alone.results[0]["chained_by"], json::array({"default/leaf"}));
  EXPECT_TRUE(alone.events.empty());

  // The leaf bound: it stays, so its CA stays too.
  MustBind("leaf", "lb:443");
  DeleteOutcome kept = MustDelete({"root", "leaf"});
  EXPECT_EQ(kept.results[0]["error"]["code"], "ca_in_use");
  EXPECT_EQ(kept.results[1]["error"]["code"], "bound");
  EXPECT_EQ(MustList().size(), 2u);

  // Both in one command, the leaf free: both go, and the CA's deletion is flagged.
  ASSERT_TRUE(inventory_->Unbind("leaf", "lb:443", kNow));
  DeleteOutcome both = MustDelete({"root", "leaf", "leaf"});
  EXPECT_EQ(both.deleted, 3);
  EXPECT_EQ(both.events.size(), 2u);
  EXPECT_TRUE(both.deleted_ca);
  EXPECT_EQ(both.results[2]["outcome"], "deleted");
  EXPECT_TRUE(MustList().empty());
}

TEST_F(BindingsTest, ReconcileMakesDeclaredBindingsAndKeepsUndeclaredEntriesPending) {
  ImportLeaf("web");
  ReconcileOutcome first =
      MustReconcile({{"web", "lb:443", "deploy"}, {"default/api", "lb:8443", std::nullopt}});
  EXPECT_EQ(Types(first.events), std::vector<std::string>{"cert.bound web lb:443"});
  EXPECT_EQ(Payload(first.events[0])["plugin"], "deploy");
  ASSERT_EQ(first.problems.size(), 1u);
  EXPECT_EQ(first.problems[0]["state"], "pending");
  EXPECT_EQ(first.problems[0]["resource"], "lb:8443");
  EXPECT_EQ(BoundTo("web"), std::vector<std::string>{"lb:443=config"});

  // The same declarations again: nothing to do.
  EXPECT_TRUE(
      MustReconcile({{"web", "lb:443", "deploy"}, {"default/api", "lb:8443", {}}}).events.empty());

  // The pending entry arrives.
  ImportLeaf("api");
  ReconcileOutcome second =
      MustReconcile({{"web", "lb:443", "deploy"}, {"default/api", "lb:8443", {}}});
  EXPECT_EQ(Types(second.events), std::vector<std::string>{"cert.bound api lb:8443"});
  EXPECT_TRUE(second.problems.empty());

  // A declaration removed from the config: its binding goes; the other stays.
  ReconcileOutcome third = MustReconcile({{"default/api", "lb:8443", {}}});
  EXPECT_EQ(Types(third.events), std::vector<std::string>{"cert.unbound web lb:443"});
  EXPECT_TRUE(BoundTo("web").empty());
  EXPECT_EQ(BoundTo("api"), std::vector<std::string>{"lb:8443=config"});
}

TEST_F(BindingsTest, ReconcileNeverRemovesWhatTheCliMade) {
  ImportLeaf("a");
  ImportLeaf("b");
  MustBind("a", "cli:1");
  EXPECT_TRUE(MustReconcile({}).events.empty());
  EXPECT_EQ(BoundTo("a"), std::vector<std::string>{"cli:1=cli"});

  // The config wants the resource for another entry: a conflict, reported, nothing changed.
  ReconcileOutcome conflict = MustReconcile({{"b", "cli:1", {}}});
  EXPECT_TRUE(conflict.events.empty());
  ASSERT_EQ(conflict.problems.size(), 1u);
  EXPECT_EQ(conflict.problems[0]["state"], "conflict");
  EXPECT_NE(conflict.problems[0]["message"].get<std::string>().find("default/a"),
            std::string::npos);
  EXPECT_EQ(BoundTo("a"), std::vector<std::string>{"cli:1=cli"});

  // The config declares what the CLI made: it takes it over, without an event.
  ReconcileOutcome takeover = MustReconcile({{"a", "cli:1", {}}});
  EXPECT_TRUE(takeover.events.empty());
  EXPECT_EQ(BoundTo("a"), std::vector<std::string>{"cli:1=config"});
  auto unbind = inventory_->Unbind("a", "cli:1", kNow);
  ASSERT_FALSE(unbind);
  EXPECT_EQ(unbind.error().code, "declared");
  auto replug = inventory_->Bind("a", "cli:1", "deploy", kNow);
  ASSERT_FALSE(replug);
  EXPECT_EQ(replug.error().code, "declared");
  EXPECT_FALSE(MustBind("a", "cli:1").event);  // as declared: nothing to do
}

TEST_F(BindingsTest, ReconcileMovesAResourceTheConfigGivesToAnotherEntry) {
  ImportLeaf("old");
  ImportLeaf("new");
  MustReconcile({{"old", "lb:443", {}}});
  ReconcileOutcome moved = MustReconcile({{"new", "lb:443", "deploy"}});
  EXPECT_EQ(Types(moved.events),
            (std::vector<std::string>{"cert.unbound old lb:443", "cert.bound new lb:443"}));
  // Declared for an entry that does not exist yet: what is bound stays bound meanwhile.
  ReconcileOutcome pending = MustReconcile({{"newer", "lb:443", {}}});
  EXPECT_TRUE(pending.events.empty());
  EXPECT_EQ(pending.problems[0]["state"], "pending");
  EXPECT_EQ(BoundTo("new"), std::vector<std::string>{"lb:443=config"});
}

TEST_F(BindingsTest, ReconcileReportsAmbiguousNames) {
  ImportLeaf("web");
  Issued other = Issue(test::Leaf("web2.example"));
  Drop drop;
  drop.Cert(other, true);
  MustImport(drop.Request("web2.pem", test::Named("web", "prod")));
  ReconcileOutcome out = MustReconcile({{"web", "lb:443", {}}, {"prod/web", "lb:8443", {}}});
  ASSERT_EQ(out.problems.size(), 1u);
  EXPECT_EQ(out.problems[0]["state"], "ambiguous");
  EXPECT_EQ(Types(out.events), std::vector<std::string>{"cert.bound web lb:8443"});
  EXPECT_EQ(BoundTo("prod/web"), std::vector<std::string>{"lb:8443=config"});
}

TEST_F(BindingsTest, SidecarBindBindsTheDescribedEntry) {
  Issued leaf = Issue(test::Leaf("web.example"));
  Issued ca = Issue(test::Ca("Web CA"));
  Drop drop;
  drop.Cert(leaf, true).Cert(ca);
  DropMetadata meta = test::Named("web");
  meta.bind = {"lb:443", "lb:8443"};
  ImportOutcome out = MustImport(drop.Request("web.pem", meta));
  std::vector<std::string> types;
  for (const Event& e : out.events) types.push_back(e.type);
  EXPECT_EQ(types, (std::vector<std::string>{"cert.imported", "cert.imported", "cert.bound",
                                             "cert.bound"}));
  EXPECT_EQ(Payload(out.events[2])["certificate"]["name"], "web");
  EXPECT_EQ(BoundTo("web"), (std::vector<std::string>{"lb:443=sidecar", "lb:8443=sidecar"}));
  EXPECT_TRUE(MustShow("Web CA")["bindings"].empty());

  // Dropped again: a duplicate binds nothing.
  meta.bind = {"other:1"};
  ImportOutcome again = MustImport(drop.Request("web-again.pem", meta));
  EXPECT_TRUE(again.events.empty());
}

TEST_F(BindingsTest, SidecarBindThatCannotBeAppliedFailsTheWholeImport) {
  ImportLeaf("holder");
  MustBind("holder", "lb:443");
  auto before = inventory_->Count(kNow);
  ASSERT_TRUE(before);

  Issued leaf = Issue(test::Leaf("web.example"));
  Drop taken;
  taken.Cert(leaf, true);
  DropMetadata meta = test::Named("web");
  meta.bind = {"lb:443"};
  auto refused = inventory_->Import(taken.Request("web.pem", meta));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "resource_bound");

  Drop two;
  two.Cert(Issue(test::Leaf("a.example")), true).Cert(Issue(test::Leaf("b.example")), true);
  meta.bind = {"free:1"};
  auto ambiguous = inventory_->Import(two.Request("two.pem", meta));
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().code, "bind_ambiguous");

  auto after = inventory_->Count(kNow);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->entries, before->entries);
  EXPECT_EQ(after->last_seq, before->last_seq);
  EXPECT_EQ(Rows("keys"), 1);
}

}  // namespace
}  // namespace certinbox::storage
