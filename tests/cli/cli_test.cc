// The CLI's pure helpers: durations, tables, rendering of daemon replies, finding the endpoint.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/error_codes.h"
#include "cli/duration.h"
#include "cli/endpoint.h"
#include "cli/render.h"
#include "cli/table.h"
#include "tests/testing/files.h"
#include "tests/testing/temp_dir.h"

namespace certinbox::cli {
namespace {

namespace fs = std::filesystem;

TEST(DurationTest, AcceptsEachUnit) {
  struct Case {
    const char* text;
    int64_t seconds;
  };
  for (const Case& c : {Case{"90s", 90}, Case{"15m", 900}, Case{"12h", 43'200},
                        Case{"30d", 2'592'000}, Case{"2w", 1'209'600}, Case{"0d", 0}}) {
    auto seconds = ParseDuration(c.text);
    ASSERT_TRUE(seconds.has_value()) << c.text << ": " << seconds.error().message;
    EXPECT_EQ(*seconds, c.seconds) << c.text;
  }
}

TEST(DurationTest, RefusesBadInput) {
  for (const char* text : {"", "30", "d", "30x", "-1d", "1.5d", "30 d", "30dd", "3d4h",
                           "99999999999999999999d", "40000w"}) {
    EXPECT_FALSE(ParseDuration(text).has_value()) << text;
  }
}

TEST(TableTest, AlignsColumnsWithoutTrailingSpaces) {
  Table table({"NAME", "DAYS", "NOTE"});
  table.AddRow({"web", "42", ""});
  table.AddRow({"api-long", "7", "x"});
  EXPECT_EQ(table.Render(),
            "NAME      DAYS  NOTE\n"
            "web       42\n"
            "api-long  7     x\n");
}

TEST(TableTest, CountsUtf8CodePoints) {
  EXPECT_EQ(DisplayWidth("caf\xC3\xA9"), 4u);
  Table table({"A", "B"});
  table.AddRow({"caf\xC3\xA9", "1"});
  EXPECT_EQ(table.Render(), "A     B\ncaf\xC3\xA9  1\n");
}

TEST(TextTest, ShortHexAndSpans) {
  EXPECT_EQ(ShortHex("AB:CD:EF:01:23:45:67:89:AA:BB"), "abcdef0123456789");
  EXPECT_EQ(ShortHex(""), "-");
  EXPECT_EQ(FormatSpan(42), "42s");
  EXPECT_EQ(FormatSpan(93'784), "1d 2h");
  EXPECT_EQ(FormatSpan(86'400), "1d");
  EXPECT_EQ(FormatSpan(0), "0s");
}

TEST(TextTest, FieldsNeverThrow) {
  Json entry = {{"not_after", "2025-03-01T00:00:00Z"},
                {"labels", {{"env", "prod"}}},
                {"findings", {"weak_key", {{"code", "self_signed"}}}}};
  EXPECT_EQ(DateOf(FieldOf(entry, "not_after")), "2025-03-01");
  EXPECT_EQ(DateOf(Json(1'740'787'200)), "2025-03-01");
  EXPECT_EQ(DateOf(FieldOf(entry, "missing")), "-");
  EXPECT_EQ(LabelsOf(FieldOf(entry, "labels")), "env=prod");
  EXPECT_EQ(FindingsOf(FieldOf(entry, "findings")), "weak_key,self_signed");
  EXPECT_EQ(TextOf(FieldOf(Json::array(), "x")), "-");
  EXPECT_EQ(SourceOf(Json{{"inbox", "drop"}, {"file", "a.pem"}}), "drop/a.pem");
}

Json Entry() {
  return {{"id", 7},
          {"name", "www"},
          {"group", "web"},
          {"kind", "leaf"},
          {"status", "valid"},
          {"not_after", "2026-01-31T12:00:00Z"},
          {"days_left", 42},
          {"has_private_key", true},
          {"findings", {"chain_incomplete", "weak_key"}},
          {"fingerprint_sha256", "00112233445566778899aabbccddeeff"}};
}

TEST(RenderTest, EmptyInventory) {
  Json reply = {{"entries", Json::array()}, {"unmatched_keys", Json::array()}};
  EXPECT_EQ(RenderInventory(reply, false), "no certificates\n");
  EXPECT_EQ(RenderInventory(reply, true), "no certificates match\n");
  InventoryPrinter json(true, false);
  std::string printed = json.Page(Json::object());
  printed += json.Finish();
  EXPECT_EQ(printed, reply.dump(2) + "\n");
}

TEST(RenderTest, InventoryTableAndUnmatchedKeys) {
  Json reply = {{"entries", {Entry()}},
                {"unmatched_keys",
                 {{{"spki_sha256", "ffeeddccbbaa99887766"},
                   {"algorithm", "EC"},
                   {"bits", 256},
                   {"source", {{"inbox", "drop"}, {"file", "k.key"}}}}}}};
  EXPECT_EQ(RenderInventory(reply, false),
            "ID  NAME  GROUP  KIND  STATUS  EXPIRES     DAYS  KEY  FINDINGS                   "
            "FINGERPRINT\n"
            "7   www   web    leaf  valid   2026-01-31  42    yes  chain_incomplete,weak_key  "
            "0011223344556677\n"
            "\nunmatched keys (waiting for their certificate): 1\n"
            "SPKI              ALGORITHM  BITS  SOURCE\n"
            "ffeeddccbbaa9988  EC         256   drop/k.key\n");
}

// Names from the inventory once reached the terminal raw: an ESC sequence changed colours, a
// CR/LF forged a row. Every printed value is escaped: a table of hostile names and what shows.
TEST(RenderTest, HostileNamesPrintEscaped) {
  struct Case {
    std::string name;
    std::string shown;
  };
  const std::vector<Case> table = {
      {"red\x1b[31m", "red\\e[31m"},  {"www\r\nforged  row", "www\\r\\nforged  row"},
      {"bell\x07", "bell\\x07"},      {"csi\xc2\x9b", "csi\\xc2\\x9b"},
      {"bad\xff", "bad\\xff"},        {"back\\slash", "back\\\\slash"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},
  };
  for (const Case& c : table) {
    SCOPED_TRACE(c.shown);
    Json entry = Entry();
    entry["name"] = c.name;
    entry["labels"] = {c.name};
    std::string listed = RenderInventory(Json{{"entries", {entry}}}, false);
    EXPECT_NE(listed.find("\n7   " + c.shown + "  "), std::string::npos) << listed;
    EXPECT_EQ(std::count(listed.begin(), listed.end(), '\n'), 2) << listed;
    std::string shown = RenderEntry(entry, false);
    EXPECT_NE(shown.find("name:        " + c.shown + "\n"), std::string::npos) << shown;
    EXPECT_EQ(shown.find('\x1b'), std::string::npos);
    Json event = {{"seq", 1}, {"type", "cert.imported"}, {"time", "T"}, {"certificate", entry}};
    std::string line = RenderEvent(event);
    EXPECT_NE(line.find(c.shown), std::string::npos) << line;
    EXPECT_EQ(line.find_first_of("\r\n\x1b\x07"), std::string::npos) << line;
  }
}

// Pages printed one by one make the text nlohmann gives for the whole object, with the rows as
// the daemon sent them; the unmatched keys come from the first page.
TEST(RenderTest, InventoryJsonOverPagesKeepsDaemonObjects) {
  Json key = {{"spki_sha256", "ff"}, {"algorithm", "EC"}, {"bits", 256}};
  Json second = Entry();
  second["name"] = "zzz";
  InventoryPrinter json(true, false);
  std::string printed =
      json.Page({{"entries", {Entry()}}, {"unmatched_keys", {key}}, {"extra", 1}, {"next", "x"}});
  printed += json.Page({{"entries", {second}}, {"next", nullptr}});
  printed += json.Finish();
  Json whole = {{"entries", {Entry(), second}}, {"unmatched_keys", {key}}};
  EXPECT_EQ(printed, whole.dump(2) + "\n");
}

// The text table over pages: one header, and a later page's wider cell widens its column from
// there on.
TEST(RenderTest, InventoryTableOverPages) {
  Json wide = Entry();
  wide["name"] = "a-much-longer-name";
  InventoryPrinter text(false, false);
  std::string printed = text.Page({{"entries", {Entry()}}});
  printed += text.Page({{"entries", {wide}}});
  printed += text.Finish();
  EXPECT_EQ(printed,
            "ID  NAME  GROUP  KIND  STATUS  EXPIRES     DAYS  KEY  FINDINGS                   "
            "FINGERPRINT\n"
            "7   www   web    leaf  valid   2026-01-31  42    yes  chain_incomplete,weak_key  "
            "0011223344556677\n"
            "7   a-much-longer-name  web    leaf  valid   2026-01-31  42    yes  "
            "chain_incomplete,weak_key  0011223344556677\n");
}

TEST(RenderTest, EntryLinesAndVersions) {
  Json entry = Entry();
  entry["version"] = 2;
  entry["versions"] = {{{"version", 1}, {"fingerprint_sha256", "aa"}},
                       {{"version", 2}, {"fingerprint_sha256", "bb"}}};
  std::string text = RenderEntry(entry, true);
  EXPECT_NE(text.find("name:        www\n"), std::string::npos) << text;
  EXPECT_NE(text.find("has key:     yes\n"), std::string::npos) << text;
  EXPECT_NE(text.find("description: -\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n2 *      -       bb"), std::string::npos) << text;
  EXPECT_EQ(RenderEntry(entry, false).find("VERSION"), std::string::npos);
}

// After a rollback the current version is not the newest: the daemon's "current" says which.
TEST(RenderTest, VersionsTableMarksTheCurrentVersionAndEachStatus) {
  Json entry = Entry();
  entry["version"] = 1;
  entry["versions"] = {
      {{"version", 1}, {"current", true}, {"status", "valid"}, {"fingerprint_sha256", "aa"}},
      {{"version", 2}, {"current", false}, {"status", "expired"}, {"fingerprint_sha256", "bb"}}};
  std::string text = RenderEntry(entry, true);
  EXPECT_NE(text.find("VERSION  STATUS   FINGERPRINT"), std::string::npos) << text;
  EXPECT_NE(text.find("\n1 *      valid    aa"), std::string::npos) << text;
  EXPECT_NE(text.find("\n2        expired  bb"), std::string::npos) << text;
}

TEST(RenderTest, EventLines) {
  Json imported = {{"seq", 12},
                   {"type", "cert.imported"},
                   {"time", "2025-01-01T00:00:00Z"},
                   {"certificate", Entry()},
                   {"findings", Json::array()}};
  EXPECT_EQ(RenderEvent(imported),
            "12 2025-01-01T00:00:00Z cert.imported   web/www  v-, expires 2026-01-31 (42d)");
  Json rejected = {{"seq", 13},
                   {"type", "import.rejected"},
                   {"time", "T"},
                   {"source", {{"inbox", "drop"}, {"file", "x.pem"}}},
                   {"reason", "parse_failed"},
                   {"message", "line one\nline two"}};
  EXPECT_EQ(RenderEvent(rejected),
            "13 T import.rejected drop/x.pem  parse_failed: line one; line two");
}

TEST(RenderTest, StatusSummary) {
  Json status = {{"version", "0.1.0"},
                 {"pid", 42},
                 {"uptime_seconds", 3'700},
                 {"last_seq", 9},
                 {"counts", {{"entries", 3}, {"expired", 1}}},
                 {"inboxes", {{{"name", "drop"}, {"path", "/srv/drop"}, {"backlog", 2}}}}};
  std::string text = RenderStatus(status);
  EXPECT_NE(text.find("daemon:   certinboxd 0.1.0, pid 42, up 1h 1m\n"), std::string::npos) << text;
  EXPECT_NE(text.find("counts:   entries 3, expired 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("drop   2        /srv/drop\n"), std::string::npos) << text;
}

class EndpointTest : public ::testing::Test {
 protected:
  fs::path Write(const std::string& name, const std::string& text) {
    testing::WriteFile(dir_ / name, text);
    return dir_ / name;
  }

  testing::TempDir dir_{"certinbox-cli-"};
};

TEST_F(EndpointTest, ExplicitControlWins) {
  auto endpoint = ResolveControlEndpoint("ipc:///x.sock", Write("c.toml",
                                                                "[bus]\n"
                                                                "control = 'ipc:///y'\n"));
  ASSERT_TRUE(endpoint.has_value());
  EXPECT_EQ(endpoint->endpoint, "ipc:///x.sock");
}

TEST_F(EndpointTest, BusControlFromConfig) {
  auto file = Write("c.toml", "[bus]\ncontrol = 'ipc:///run/ci.sock'\nunknown = 1\n");
  EXPECT_EQ(ControlEndpointFromConfig(file).value(), "ipc:///run/ci.sock");
  file = Write("r.toml", "[bus]\ncontrol = 'ipc://run/ci.sock'\n");
  EXPECT_EQ(ControlEndpointFromConfig(file).value(), "ipc://" + (dir_ / "run/ci.sock").string());
}

TEST_F(EndpointTest, StateDirRelativeToConfigFolder) {
  auto file = Write("c.toml", "[daemon]\nstate_dir = 'state'\n[[inbox]]\npath = 'in'\n");
  EXPECT_EQ(ControlEndpointFromConfig(file).value(),
            "ipc://" + (dir_ / "state" / "control.sock").string());
  file = Write("d.toml", "[expiry]\nexpiring_soon_days = 30\n");
  EXPECT_EQ(ControlEndpointFromConfig(file).value(), "ipc:///var/lib/certinbox/control.sock");
}

TEST_F(EndpointTest, UnreadableOrBadConfigIsAnError) {
  EXPECT_FALSE(ControlEndpointFromConfig(dir_ / "missing.toml").has_value());
  EXPECT_FALSE(ControlEndpointFromConfig(Write("bad.toml", "[bus\n")).has_value());
  EXPECT_FALSE(ControlEndpointFromConfig(Write("t.toml", "[bus]\ncontrol = 5\n")).has_value());
  EXPECT_FALSE(ControlEndpointFromConfig(Write("s.toml", "daemon = 'x'\n")).has_value());
}

TEST_F(EndpointTest, DefaultsWithoutConfig) {
  auto endpoint = ResolveControlEndpoint("", "", dir_ / "absent.toml");
  ASSERT_TRUE(endpoint.has_value());
  EXPECT_EQ(endpoint->endpoint, "ipc:///var/lib/certinbox/control.sock");
  auto present = Write("certinbox.toml", "[daemon]\nstate_dir = '/srv/ci'\n");
  EXPECT_EQ(ResolveControlEndpoint("", "", present).value().endpoint, "ipc:///srv/ci/control.sock");
}

TEST(ConnectableEndpointTest, WildcardBecomesLocalhost) {
  EXPECT_EQ(ConnectableEndpoint("tcp://*:5556"), "tcp://127.0.0.1:5556");
  EXPECT_EQ(ConnectableEndpoint("tcp://0.0.0.0:5556"), "tcp://127.0.0.1:5556");
  EXPECT_EQ(ConnectableEndpoint("ipc:///run/e.sock"), "ipc:///run/e.sock");
}

TEST(CheckIpcEndpointTest, MissingSocketFile) {
  auto missing = CheckIpcEndpoint("ipc:///nonexistent/certinbox/control.sock");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, base::code::kUnreachable);
  EXPECT_TRUE(CheckIpcEndpoint("tcp://127.0.0.1:1").has_value());
  EXPECT_TRUE(CheckIpcEndpoint("ipc://@abstract").has_value());
}

TEST_F(EndpointTest, AFileThatIsNotASocketIsSaidSo) {
  auto file = Write("control.sock", "");
  auto checked = CheckIpcEndpoint("ipc://" + file.string());
  ASSERT_FALSE(checked.has_value());
  EXPECT_NE(checked.error().message.find("is not a socket"), std::string::npos)
      << checked.error().message;
}

}  // namespace
}  // namespace certinbox::cli
