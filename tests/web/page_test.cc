// Issue 14's inventory page in a real headless Chromium against the real certinboxd: the tiles
// count valid, expiring soon and expired certificates; the "expiring soon" tile filters the list
// to that one; its entry page lists its versions and bindings; the live event view shows the
// imports. Screenshots are kept in the build folder (tests/web/screenshots/). Every response the
// page received is fetched again and must hold no key material.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/http_fetch.h"
#include "tests/testing/ports.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/webdriver.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kDay = 86400;

struct Dropped {
  std::string name;
  std::string key_pem;
};

// A certificate with its key in one PEM file, expiring `days` from now (negative: expired).
Dropped DropCertificate(DaemonHarness& daemon, const std::string& name, int64_t days) {
  CertSpec spec = LeafSpec(name);  // the entry is named after the CN
  spec.not_before = NowUnix() - 400 * kDay;
  spec.not_after = NowUnix() + days * kDay + kDay / 2;
  Issued issued = Issue(spec);
  std::string key_pem = KeyPkcs8Pem(issued.key.get());
  daemon.Drop(name + ".pem", CertPem(issued.cert.get()) + key_pem);
  return {name, key_pem};
}

void SaveScreenshot(WebDriver& browser, const std::string& name) {
  fs::path dir = fs::path(CERTINBOX_SCREENSHOT_DIR);
  fs::create_directories(dir);
  std::ofstream(dir / (name + ".png"), std::ios::binary) << browser.ScreenshotPng();
}

// The base64 lines of a PEM body: any of them in a response would be key material.
std::vector<std::string> PemBodyLines(const std::string& pem) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < pem.size()) {
    size_t end = pem.find('\n', start);
    if (end == std::string::npos) end = pem.size();
    std::string line = pem.substr(start, end - start);
    if (!line.starts_with("-----") && line.size() >= 16) lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

TEST(WebPageTest, TilesFilterEntryPageAndNoKeyMaterial) {
  ASSERT_TRUE(WebDriver::Available()) << "chromium and chromium-driver: scripts/install-deps.sh";
  const int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);
  HarnessOptions options;
  options.accept_expired = true;
  options.http_toml = "listen = \"127.0.0.1:" + std::to_string(port) + "\"";
  DaemonHarness daemon(options);
  ASSERT_TRUE(daemon.Start());
  std::vector<Dropped> dropped = {DropCertificate(daemon, "valid", 365),
                                  DropCertificate(daemon, "soon", 10),
                                  DropCertificate(daemon, "old", -3)};
  daemon.WaitForEvents(HasEvents("cert.imported", 3));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 3u) << daemon.log();
  CommandResult bound = daemon.Cli({"bind", "soon", "lb-page:443"});
  ASSERT_EQ(bound.exit_code, 0) << bound.out << bound.err;
  const std::string base = "http://127.0.0.1:" + std::to_string(port);

  TempDir scratch;
  WebDriver browser(scratch.path());
  browser.Go(base + "/");
  ASSERT_TRUE(
      browser.WaitFor("return document.getElementById('count-valid').textContent === '1' && "
                      "document.querySelectorAll('#entries tbody tr').length === 3"))
      << browser.Text("body") << daemon.log();
  EXPECT_EQ(browser.Text("#count-valid"), "1");
  EXPECT_EQ(browser.Text("#count-expiring_soon"), "1");
  EXPECT_EQ(browser.Text("#count-expired"), "1");
  EXPECT_EQ(browser.Text("#count-pre_activation"), "0");
  // Sorted by expiry: the expired one first, then the one expiring soon, then the valid one.
  std::vector<std::string> names = browser.Texts("#entries tbody tr td:first-child");
  EXPECT_EQ(names, (std::vector<std::string>{"old", "soon", "valid"}));
  SaveScreenshot(browser, "inventory");

  browser.Click(".tile[data-status=expiring_soon]");
  ASSERT_TRUE(
      browser.WaitFor("return document.querySelectorAll('#entries tbody tr').length === 1"));
  EXPECT_EQ(browser.Texts("#entries tbody tr td:first-child"), std::vector<std::string>{"soon"});
  EXPECT_EQ(browser.Text("#entries tbody tr td:nth-child(4)"), "expiring soon");
  SaveScreenshot(browser, "expiring_soon");

  browser.Click("#entries tbody tr td:first-child a");
  ASSERT_TRUE(
      browser.WaitFor("const t = document.getElementById('entry-title');"
                      "return t !== null && t.textContent === 'default/soon'"))
      << browser.Text("body");
  std::string page = browser.Text("#entry-view");
  EXPECT_NE(page.find("1 (current)"), std::string::npos) << page;    // its versions
  EXPECT_NE(page.find("lb-page:443"), std::string::npos) << page;    // its bindings
  EXPECT_NE(page.find("cert.imported"), std::string::npos) << page;  // its events
  SaveScreenshot(browser, "entry");

  browser.Go(base + "/#/events");
  ASSERT_TRUE(browser.WaitFor("return document.querySelectorAll('#events tbody tr').length >= 3"))
      << browser.Text("body");

  // Every response the page received, fetched again: no key material in any.
  nlohmann::json urls = browser.Execute(
      "return [location.origin + '/'].concat("
      "performance.getEntriesByType('resource').map(e => e.name))");
  ASSERT_GE(urls.size(), 5u) << urls.dump();
  std::set<std::string> checked;
  int served = 0;
  for (const auto& url : urls) {
    if (!checked.insert(url.get<std::string>()).second) continue;
    HttpReply reply = HttpFetch(url.get<std::string>());
    ASSERT_NE(reply.status, 0) << url << reply.error;
    // Chromium asks for /favicon.ico on its own (a 404); the page's files and API answer.
    if (reply.status == 200) ++served;
    EXPECT_EQ(reply.body.find("PRIVATE KEY"), std::string::npos) << url;
    for (const Dropped& d : dropped) {
      for (const std::string& line : PemBodyLines(d.key_pem)) {
        EXPECT_EQ(reply.body.find(line), std::string::npos) << url << " holds " << d.name;
      }
    }
  }
  EXPECT_GE(served, 5) << urls.dump();
}

TEST(WebApiTest, AnswersWhatTheControlOpsAnswerWithHttpStatuses) {
  const int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);
  HarnessOptions options;
  options.http_toml = "listen = \"127.0.0.1:" + std::to_string(port) + "\"";
  DaemonHarness daemon(options);
  ASSERT_TRUE(daemon.Start());
  DropCertificate(daemon, "alpha", 365);
  DropCertificate(daemon, "beta", 10);
  daemon.WaitForEvents(HasEvents("cert.imported", 2));
  const std::string api = "http://127.0.0.1:" + std::to_string(port) + "/api/v1";
  auto get = [&](const std::string& path) {
    HttpReply reply = HttpFetch(api + path);
    return std::pair{reply.status, nlohmann::json::parse(reply.body, nullptr, false)};
  };

  auto [summary_status, summary] = get("/summary");
  ASSERT_EQ(summary_status, 200);
  EXPECT_EQ(summary["counts"]["valid"], 1);
  EXPECT_EQ(summary["counts"]["expiring_soon"], 1);
  EXPECT_EQ(summary["entries"], 2);

  // Free text matches a piece of the name, the CN or a SAN, in any case.
  auto [found_status, found] = get("/entries?text=ETA");
  ASSERT_EQ(found_status, 200);
  ASSERT_EQ(found["entries"].size(), 1u) << found.dump();
  EXPECT_EQ(found["entries"][0]["name"], "beta");
  EXPECT_FALSE(found.contains("unmatched_keys")) << "they name the files the keys came in";
  // Pages as ls does: one row, then the next page from its cursor.
  auto [first_status, first] = get("/entries?sort=expiry&limit=1");
  ASSERT_EQ(first_status, 200);
  ASSERT_EQ(first["entries"].size(), 1u);
  EXPECT_EQ(first["entries"][0]["name"], "beta");
  ASSERT_TRUE(first["next"].is_string());
  auto [second_status, second] =
      get("/entries?sort=expiry&limit=1&after=" + first["next"].get<std::string>());
  ASSERT_EQ(second_status, 200);
  EXPECT_EQ(second["entries"][0]["name"], "alpha");
  EXPECT_TRUE(second["next"].is_null());

  // Errors: the control ops' codes, with an HTTP status.
  EXPECT_EQ(get("/entries?limit=abc").first, 400);
  EXPECT_EQ(get("/entries?limit=0").second["error"]["code"], "bad_request");
  EXPECT_EQ(get("/entries?status=bogus").first, 400);
  EXPECT_EQ(get("/entries/nope").first, 404);
  auto [shown_status, shown] = get("/entries/beta");
  ASSERT_EQ(shown_status, 200);
  EXPECT_EQ(shown["entry"]["name"], "beta");
  EXPECT_FALSE(shown["entry"].contains("key_exports")) << "the audit stays on the control socket";
  // Its events, newest first: the notice of its expiry, then its import.
  ASSERT_EQ(shown["events"].size(), 2u) << shown["events"].dump();
  EXPECT_EQ(shown["events"][0]["type"], "cert.expiring");
  EXPECT_EQ(shown["events"][1]["type"], "cert.imported");
  auto [events_status, events] = get("/events?since=0&limit=1");
  ASSERT_EQ(events_status, 200);
  EXPECT_EQ(events["events"].size(), 1u);
  EXPECT_TRUE(events["more"].get<bool>());
}

}  // namespace
}  // namespace certinbox::testing
