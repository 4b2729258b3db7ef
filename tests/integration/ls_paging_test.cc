// `ls` pages (docs/protocol.md, "Paging ls"), against the real daemon over its real control
// socket and through the real CLI: every entry exactly once in either order, ties included;
// entries added and deleted between pages; cursors of the other order and malformed cursors
// and limits refused; the CLI following the pages.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/test_ca.h"

namespace certinbox::testing {
namespace {

using nlohmann::json;

constexpr int64_t kDay = 86400;

// The error code of a reply, "" when it succeeded.
std::string ErrorCode(const base::Result<json>& reply) { return reply ? "" : reply.error().code; }

// Sets CERTINBOX_LS_PAGE_SIZE (the CLI's entries per request) for the CLIs started while it
// lives (nullptr: unset), and puts back what was there.
class PageSize {
 public:
  explicit PageSize(const char* value) {
    if (const char* old = std::getenv(kName)) old_ = old;
    Set(value);
  }
  ~PageSize() { Set(old_ ? old_->c_str() : nullptr); }
  PageSize(const PageSize&) = delete;
  PageSize& operator=(const PageSize&) = delete;

 private:
  static constexpr const char* kName = "CERTINBOX_LS_PAGE_SIZE";
  static void Set(const char* value) {
    if (value) {
      ::setenv(kName, value, 1);
    } else {
      ::unsetenv(kName);
    }
  }
  std::optional<std::string> old_;
};

class LsPagingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.Start());
    // Half a day past whole days, so days_left cannot change between two reads of a test.
    const int64_t now = std::time(nullptr) + kDay / 2;
    tie_ = now + 200 * kDay;
    // Ties in both orders: "web" in three groups (name), five certificates expiring at the same
    // second (expiry), and a CSR entry without certificate (last by expiry).
    AddLeaf("web", "a", "web-a.paging.test", tie_);
    AddLeaf("web", "b", "web-b.paging.test", tie_);
    AddLeaf("web", "c", "web-c.paging.test", now + 30 * kDay);
    AddLeaf("api", "a", "api.paging.test", tie_);
    AddLeaf("db", "default", "db.paging.test", tie_);
    AddLeaf("mail", "default", "mail.paging.test", tie_);
    AddLeaf("zeta", "default", "zeta.paging.test", now + 400 * kDay);
    auto csr = daemon_.control().Request(
        "csr.create", {{"name", "pending"}, {"cn", "pending.paging.test"}, {"key", "ec-p256"}},
        std::chrono::seconds(60));
    ASSERT_TRUE(csr.has_value()) << csr.error().message;
    // A key without its certificate: an unmatched key, which the first page carries.
    daemon_.Drop("lone.key", Issue(LeafSpec("lone.paging.test")).KeyPem());
    daemon_.WaitForEvents([this](const std::vector<json>&) { return UnmatchedKeys() == 1; });
    ASSERT_EQ(UnmatchedKeys(), 1u) << daemon_.log();
  }

  void AddLeaf(const std::string& name, const std::string& group, const std::string& cn,
               int64_t not_after) {
    CertSpec spec = LeafSpec(cn);
    spec.not_after = not_after;
    Issued leaf = Issue(spec);
    const size_t before = daemon_.EventsOfType("cert.imported").size();
    daemon_.Drop(cn + ".toml", "name = \"" + name + "\"\ngroup = \"" + group + "\"\n");
    daemon_.Drop(cn + ".pem", leaf.CertPem() + leaf.KeyPem());
    daemon_.WaitForEvents(HasEvents("cert.imported", static_cast<int>(before + 1)));
    ASSERT_EQ(daemon_.EventsOfType("cert.imported").size(), before + 1) << daemon_.log();
  }

  size_t UnmatchedKeys() {
    auto reply = daemon_.control().Request("ls", {{"limit", 1}});
    return reply ? (*reply)["unmatched_keys"].size() : 0;
  }

  base::Result<json> Ls(json args) { return daemon_.control().Request("ls", std::move(args)); }

  // Every page of `ls` with these arguments; each page checked for its size and fields.
  std::vector<json> AllPages(json args, int64_t limit,
                             const std::function<void(size_t page)>& between = nullptr) {
    std::vector<json> rows;
    args["limit"] = limit;
    for (size_t page = 0; page < 100; ++page) {  // far more than 8 entries need
      auto reply = Ls(args);
      if (!reply) {
        ADD_FAILURE() << reply.error().message;
        return rows;
      }
      EXPECT_LE((*reply)["entries"].size(), static_cast<size_t>(limit));
      EXPECT_EQ(reply->contains("unmatched_keys"), page == 0) << reply->dump();
      for (const auto& row : (*reply)["entries"]) rows.push_back(row);
      const json& next = (*reply)["next"];
      if (next.is_null()) return rows;
      EXPECT_TRUE(next.is_string()) << reply->dump();
      if (!next.is_string()) return rows;
      args["after"] = next;
      if (between) between(page);
    }
    ADD_FAILURE() << "ls did not end within 100 pages";
    return rows;
  }

  static std::vector<int64_t> Ids(const std::vector<json>& rows) {
    std::vector<int64_t> ids;
    for (const auto& row : rows) ids.push_back(row["id"].get<int64_t>());
    return ids;
  }

  static std::vector<std::string> Names(const std::vector<json>& rows) {
    std::vector<std::string> names;
    for (const auto& row : rows) {
      names.push_back(row["group"].get<std::string>() + "/" + row["name"].get<std::string>());
    }
    return names;
  }

  DaemonHarness daemon_;
  int64_t tie_ = 0;
};

TEST_F(LsPagingTest, PagesListEveryEntryOnceInEitherOrderWithTies) {
  for (const std::string sort : {"name", "expiry"}) {
    SCOPED_TRACE(sort);
    auto whole = Ls({{"sort", sort}, {"limit", 10000}});
    ASSERT_TRUE(whole.has_value());
    EXPECT_TRUE((*whole)["next"].is_null());
    std::vector<json> one_page((*whole)["entries"].begin(), (*whole)["entries"].end());
    ASSERT_EQ(one_page.size(), 8u) << whole->dump(2);
    // The documented orders: (name, group, id) and (not_after with CSRs last, name, id).
    for (size_t i = 1; i < one_page.size(); ++i) {
      const json& a = one_page[i - 1];
      const json& b = one_page[i];
      if (sort == "name") {
        EXPECT_LT(std::tuple(a["name"].get<std::string>(), a["group"].get<std::string>()),
                  std::tuple(b["name"].get<std::string>(), b["group"].get<std::string>()));
      } else {
        auto key = [](const json& row) {
          return std::tuple(row["not_after"].is_null(), row["not_after"].dump(),
                            row["name"].get<std::string>(), row["id"].get<int64_t>());
        };
        EXPECT_LT(key(a), key(b));
      }
    }
    if (sort == "expiry") {
      EXPECT_EQ(one_page.back()["status"], "pre_activation");
    }
    for (int64_t limit : {1, 2, 3, 7, 8}) {
      SCOPED_TRACE(limit);
      EXPECT_EQ(Ids(AllPages({{"sort", sort}}, limit)), Ids(one_page));
    }
    // Filters page the same way: the five ties, two a page.
    auto tied = AllPages({{"sort", sort}, {"expiring_within", 300 * kDay}}, 2);
    EXPECT_EQ(tied.size(), 6u);  // the five ties and web in group c
  }
}

TEST_F(LsPagingTest, RowsAreTheDocumentedSummary) {
  auto reply = Ls({{"sort", "expiry"}});
  ASSERT_TRUE(reply.has_value());
  const std::set<std::string> fields = {"id",
                                        "name",
                                        "group",
                                        "kind",
                                        "labels",
                                        "status",
                                        "expiring_reason",
                                        "version",
                                        "fingerprint_sha256",
                                        "not_after",
                                        "days_left",
                                        "key_algorithm",
                                        "key_bits",
                                        "has_private_key",
                                        "findings",
                                        "binding_count"};
  for (const auto& row : (*reply)["entries"]) {
    std::set<std::string> keys;
    for (const auto& [key, value] : row.items()) keys.insert(key);
    EXPECT_EQ(keys, fields) << row.dump();
  }
  const json& csr = (*reply)["entries"].back();
  EXPECT_EQ(csr["name"], "pending");
  EXPECT_TRUE(csr["not_after"].is_null());
  EXPECT_TRUE(csr["days_left"].is_null());
  EXPECT_EQ(csr["version"], 0);
  const json& first = (*reply)["entries"].front();
  EXPECT_EQ(first["name"], "web");
  EXPECT_EQ(first["group"], "c");
  EXPECT_EQ(first["days_left"], 30);
  EXPECT_EQ(first["binding_count"], 0);
  EXPECT_EQ(first["has_private_key"], true);
}

// Between pages, one entry already listed and one not yet listed are deleted, and two are added
// (one before the cursor, one after it): every entry that existed throughout is listed exactly
// once, the deleted one not yet listed is not, and nothing is listed twice.
TEST_F(LsPagingTest, EntriesAddedAndDeletedBetweenPagesAreNeitherRepeatedNorSkipped) {
  for (const std::string sort : {"name", "expiry"}) {
    SCOPED_TRACE(sort);
    auto before = Ls({{"sort", sort}, {"limit", 10000}});
    ASSERT_TRUE(before.has_value());
    // By GROUP/NAME: SQLite may give a new entry the id of one just deleted.
    std::vector<std::string> names =
        Names({(*before)["entries"].begin(), (*before)["entries"].end()});
    ASSERT_GE(names.size(), 6u);
    const std::string listed_then_deleted = names[0];
    const std::string deleted_before_listed = names[4];
    const std::string suffix = sort;
    auto rows = AllPages({{"sort", sort}}, 2, [&](size_t page) {
      if (page != 0) return;
      for (const std::string& name : {listed_then_deleted, deleted_before_listed}) {
        auto rm = daemon_.control().Request("rm", {{"entries", {name}}});
        ASSERT_TRUE(rm.has_value());
        ASSERT_EQ((*rm)["deleted"], 1) << rm->dump();
      }
      AddLeaf("aaa-" + suffix, "default", "aaa-" + suffix + ".paging.test",
              std::time(nullptr) + 2 * kDay + kDay / 2);
      AddLeaf("n-" + suffix, "default", "n-" + suffix + ".paging.test", tie_);
    });
    std::map<std::string, int> seen;
    for (const std::string& name : Names(rows)) ++seen[name];
    for (const auto& [name, count] : seen) EXPECT_EQ(count, 1) << name << " listed twice";
    for (const std::string& name : names) {
      if (name == deleted_before_listed) {
        EXPECT_FALSE(seen.contains(name)) << name << " deleted before its page, yet listed";
      } else if (name != listed_then_deleted) {
        EXPECT_TRUE(seen.contains(name)) << name << " existed throughout, yet was skipped";
      }
    }
    EXPECT_TRUE(seen.contains(listed_then_deleted)) << "listed on the first page";
  }
}

TEST_F(LsPagingTest, BadCursorsAndLimitsAreBadRequests) {
  auto first = Ls({{"sort", "name"}, {"limit", 1}});
  ASSERT_TRUE(first.has_value());
  const std::string name_cursor = (*first)["next"].get<std::string>();
  auto hex = [](const std::string& text) {
    static const char* kDigits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : text) out += std::string{kDigits[c >> 4], kDigits[c & 15]};
    return out;
  };
  struct Case {
    std::string what;
    json args;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"a name cursor for the expiry order",
       {{"sort", "expiry"}, {"after", name_cursor}},
       "bad_request"},
      {"the same cursor for its own order", {{"sort", "name"}, {"after", name_cursor}}, ""},
      {"not hex", {{"after", "zz"}}, "bad_request"},
      {"empty", {{"after", ""}}, "bad_request"},
      {"odd length", {{"after", name_cursor.substr(1)}}, "bad_request"},
      {"hex of no JSON", {{"after", hex("[\"name\"")}}, "bad_request"},
      {"hex of a wrong array", {{"after", hex("[\"name\",1,2,3]")}}, "bad_request"},
      {"hex of a short array", {{"after", hex("[\"name\",\"a\",\"b\"]")}}, "bad_request"},
      {"an unknown order", {{"after", hex("[\"size\",\"a\",\"b\",1]")}}, "bad_request"},
      {"too long", {{"after", std::string(5000, '0')}}, "bad_request"},
      {"a number", {{"after", 5}}, "bad_request"},
      {"limit 0", {{"limit", 0}}, "bad_request"},
      {"limit -1", {{"limit", -1}}, "bad_request"},
      {"limit 10001", {{"limit", 10001}}, "bad_request"},
      {"limit a fraction", {{"limit", 1.5}}, "bad_request"},
      {"limit a string", {{"limit", "5"}}, "bad_request"},
      {"limit 10000", {{"limit", 10000}}, ""},
      {"a made cursor of the right shape", {{"after", hex("[\"name\",\"m\",\"a\",0]")}}, ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ErrorCode(Ls(c.args)), c.code) << c.what;
  }
  // A well-formed cursor goes on from its key: "m" comes after api, db and not before mail.
  auto from_m = Ls({{"after", hex("[\"name\",\"m\",\"a\",0]")}});
  ASSERT_TRUE(from_m.has_value());
  EXPECT_EQ((*from_m)["entries"][0]["name"], "mail");
}

TEST_F(LsPagingTest, CliFollowsThePages) {
  auto whole = Ls({{"limit", 10000}});
  ASSERT_TRUE(whole.has_value());
  PageSize two("2");
  CommandResult paged = daemon_.Cli({"ls", "--json"});
  ASSERT_EQ(paged.exit_code, 0) << paged.err;
  json listed = json::parse(paged.out, nullptr, false);
  ASSERT_TRUE(listed.is_object()) << paged.out;
  EXPECT_EQ(listed.size(), 2u);
  EXPECT_EQ(Ids({listed["entries"].begin(), listed["entries"].end()}),
            Ids({(*whole)["entries"].begin(), (*whole)["entries"].end()}));
  EXPECT_EQ(listed["unmatched_keys"], (*whole)["unmatched_keys"]);
  // The same text as one page would give, laid out as nlohmann lays out the whole object.
  CommandResult one;
  {
    PageSize unset(nullptr);
    one = daemon_.Cli({"ls", "--json"});
  }
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(json::parse(one.out, nullptr, false).dump(2) + "\n", one.out);
  EXPECT_EQ(paged.out, one.out);

  PageSize three("3");
  CommandResult table = daemon_.Cli({"ls", "--sort", "expiry"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::vector<std::string> lines;
  for (size_t start = 0, end; (end = table.out.find('\n', start)) != std::string::npos;
       start = end + 1) {
    lines.push_back(table.out.substr(start, end - start));
  }
  ASSERT_GE(lines.size(), 9u) << table.out;
  EXPECT_TRUE(lines[0].starts_with("ID  NAME")) << table.out;
  // In the NAME column, after the ID column: web in c expires first.
  EXPECT_EQ(lines[1].substr(lines[0].find("NAME"), 4), "web ") << table.out;
  EXPECT_EQ(lines[8].substr(lines[0].find("NAME"), 8), "pending ") << table.out;
  EXPECT_EQ(lines[9], "") << table.out;
  EXPECT_TRUE(lines[10].starts_with("unmatched keys")) << table.out;
  CommandResult empty = daemon_.Cli({"ls", "--group", "none"});
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_TRUE(empty.out.starts_with("no certificates match\n")) << empty.out;
  for (const char* size : {"0", "10001", "x", "2x", ""}) {
    PageSize bad(size);
    EXPECT_EQ(daemon_.Cli({"ls"}).exit_code, 2) << "CERTINBOX_LS_PAGE_SIZE=" << size;
  }
}

}  // namespace
}  // namespace certinbox::testing
