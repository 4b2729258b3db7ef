// Bindings and delete against the real daemon and the real CLI: bind/unbind with their events,
// rm refused for bound entries (naming the resources) and batch rm reporting each entry,
// [[binding]] in the config reconciled at start, and a sidecar's `bind`.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Events = std::vector<json>;

// The events of `type` about `name` (with `resource`, when given) received so far.
auto Has(const std::string& type, const std::string& name, const std::string& resource = "") {
  return [=](const Events& events) {
    for (const auto& event : events) {
      if (event.value("type", "") == type && event["certificate"].value("name", "") == name &&
          (resource.empty() || event.value("resource", "") == resource)) {
        return true;
      }
    }
    return false;
  };
}

int Count(const Events& events, const std::string& type, const std::string& name) {
  int n = 0;
  for (const auto& event : events) {
    n += event.value("type", "") == type && event.contains("certificate") &&
         event["certificate"].value("name", "") == name;
  }
  return n;
}

// Drops a leaf and its key named `name` by a sidecar (with `sidecar_extra` lines), waits for
// its cert.imported.
void DropLeaf(DaemonHarness& daemon, const std::string& name,
              const std::string& sidecar_extra = "") {
  TestPki pki = TestPki::Make(LeafSpec(name + ".example.test"));
  daemon.Drop(name + ".pem.toml", "name = \"" + name + "\"\n" + sidecar_extra);
  daemon.Drop(name + ".pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
  daemon.WaitForEvents(Has("cert.imported", name));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").empty(), false) << daemon.log();
}

std::vector<json> Replay(DaemonHarness& daemon) {
  auto events = sdk::EventsSince(daemon.control(), 0);
  EXPECT_TRUE(events.has_value()) << (events ? "" : events.error().message);
  return events ? *events : std::vector<json>{};
}

// Bindings name a configured plugin; this one is known but never started.
constexpr const char* kDeployPlugin =
    "[[plugin]]\nname = \"deploy\"\ncommand = \"/bin/true\"\nenabled = false\n";

TEST(BindingsTest, BoundEntriesAreNotDeletedAndBatchRmReportsEachEntry) {
  DaemonHarness daemon({.extra_toml = kDeployPlugin});
  ASSERT_TRUE(daemon.Start());
  DropLeaf(daemon, "web");
  DropLeaf(daemon, "old");

  auto bound = daemon.Cli({"bind", "web", "lb-prod:443", "--plugin", "deploy"});
  ASSERT_EQ(bound.exit_code, 0) << bound.err;
  EXPECT_EQ(bound.out, "bound default/web to lb-prod:443 (plugin deploy)\n");
  ASSERT_EQ(daemon.Cli({"bind", "web", "lb-stage:443"}).exit_code, 0);
  daemon.WaitForEvents(Has("cert.bound", "web", "lb-stage:443"));
  auto bound_events = daemon.EventsOfType("cert.bound");
  ASSERT_EQ(bound_events.size(), 2u);
  EXPECT_EQ(bound_events[0]["resource"], "lb-prod:443");
  EXPECT_EQ(bound_events[0]["plugin"], "deploy");
  EXPECT_EQ(bound_events[1]["plugin"], nullptr);
  EXPECT_EQ(bound_events[1]["certificate"]["bindings"].size(), 2u);
  // Again, as it is: nothing changes and nothing is announced.
  auto again = daemon.Cli({"bind", "web", "lb-prod:443", "--plugin", "deploy"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(Contains(again.out, "nothing changed")) << again.out;
  // A plugin the config does not declare cannot be bound to.
  auto unknown = daemon.Cli({"bind", "web", "lb-dev:443", "--plugin", "nginx"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(Contains(unknown.err, "unknown_plugin")) << unknown.err;
  EXPECT_TRUE(Contains(unknown.err, "deploy")) << unknown.err;  // names the configured ones
  // Another entry cannot take a bound resource.
  auto taken = daemon.Cli({"bind", "old", "lb-prod:443"});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_TRUE(Contains(taken.err, "default/web")) << taken.err;
  EXPECT_TRUE(Contains(taken.err, "resource_bound")) << taken.err;

  auto shown = daemon.Cli({"show", "web"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_TRUE(Contains(shown.out, "RESOURCE      PLUGIN  SOURCE  PUSHED  LAST PUSH\n"))
      << shown.out;
  EXPECT_TRUE(Contains(shown.out, "lb-prod:443   deploy  cli     -       -\n")) << shown.out;

  // rm of the bound entry alone: refused, naming both resources.
  auto refused = daemon.Cli({"rm", "web"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_TRUE(Contains(refused.out, "refused")) << refused.out;
  EXPECT_TRUE(Contains(refused.out, "lb-prod:443")) << refused.out;
  EXPECT_TRUE(Contains(refused.out, "lb-stage:443")) << refused.out;
  EXPECT_TRUE(Contains(refused.err, "1 of 1 entries were not deleted")) << refused.err;

  // Bound, free, missing: each reported; the free one deleted; non-zero exit.
  auto batch = daemon.Cli({"rm", "web", "old", "missing", "--json"});
  EXPECT_EQ(batch.exit_code, 1) << batch.err;
  json reply = json::parse(batch.out, nullptr, false);
  ASSERT_FALSE(reply.is_discarded()) << batch.out;
  ASSERT_EQ(reply["results"].size(), 3u) << reply.dump(2);
  EXPECT_EQ(reply["results"][0]["outcome"], "refused");
  EXPECT_EQ(reply["results"][0]["error"]["code"], "bound");
  EXPECT_EQ(reply["results"][0]["resources"], json::array({"lb-prod:443", "lb-stage:443"}));
  EXPECT_EQ(reply["results"][1]["outcome"], "deleted");
  EXPECT_EQ(reply["results"][2]["outcome"], "failed");
  EXPECT_EQ(reply["results"][2]["error"]["code"], "not_found");
  EXPECT_EQ(reply["deleted"], 1);
  EXPECT_EQ(reply["not_deleted"], 2);
  daemon.WaitForEvents(Has("cert.deleted", "old"));
  EXPECT_EQ(Count(daemon.EventsOfType("cert.deleted"), "cert.deleted", "old"), 1);
  EXPECT_EQ(Count(daemon.EventsOfType("cert.deleted"), "cert.deleted", "web"), 0);
  json ls = daemon.LsJson();
  ASSERT_EQ(ls["entries"].size(), 1u) << ls.dump(2);
  EXPECT_EQ(ls["entries"][0]["name"], "web");
  EXPECT_TRUE(ls["unmatched_keys"].empty()) << "the deleted entry's key must go with it";

  // Unbind both, then rm works.
  auto unbound = daemon.Cli({"unbind", "web", "lb-prod:443"});
  ASSERT_EQ(unbound.exit_code, 0) << unbound.err;
  EXPECT_EQ(unbound.out, "unbound default/web from lb-prod:443\n");
  ASSERT_EQ(daemon.Cli({"unbind", "web", "lb-stage:443"}).exit_code, 0);
  daemon.WaitForEvents(Has("cert.unbound", "web", "lb-stage:443"));
  auto unbound_events = daemon.EventsOfType("cert.unbound");
  ASSERT_EQ(unbound_events.size(), 2u);
  EXPECT_EQ(unbound_events[0]["resource"], "lb-prod:443");
  EXPECT_EQ(unbound_events[0]["plugin"], "deploy");
  EXPECT_EQ(daemon.Cli({"unbind", "web", "lb-stage:443"}).exit_code, 1);
  auto removed = daemon.Cli({"rm", "web"});
  EXPECT_EQ(removed.exit_code, 0) << removed.out << removed.err;
  EXPECT_TRUE(Contains(removed.out, "deleted")) << removed.out;
  daemon.WaitForEvents(Has("cert.deleted", "web"));
  EXPECT_EQ(daemon.EventsOfType("cert.deleted").size(), 2u);
  EXPECT_TRUE(daemon.LsJson()["entries"].empty());
}

TEST(BindingsTest, ConfigBindingsAreMadeAtStartAndRemovedWhenNoLongerDeclared) {
  DaemonHarness daemon;
  const std::string base_config = ReadFile(daemon.config_file());
  const std::string declared =
      "\n[[plugin]]\nname = \"deploy\"\ncommand = \"/bin/true\"\nenabled = false\n"
      "\n[[binding]]\nentry = \"web\"\nresource = \"lb-prod:443\"\nplugin = \"deploy\"\n"
      "\n[[binding]]\nentry = \"default/later\"\nresource = \"lb-prod:8443\"\n";
  WriteFile(daemon.config_file(), base_config + declared);
  ASSERT_TRUE(daemon.Start());

  // Neither entry exists yet: both declarations wait, and status says so.
  auto status = daemon.Cli({"status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(Contains(status.out, "[[binding]] declarations not applied")) << status.out;
  EXPECT_TRUE(Contains(status.out, "lb-prod:8443")) << status.out;

  // web arrives: its declared binding is made after the import.
  DropLeaf(daemon, "web");
  daemon.WaitForEvents(Has("cert.bound", "web", "lb-prod:443"));
  auto bound = daemon.EventsOfType("cert.bound");
  ASSERT_EQ(bound.size(), 1u) << daemon.log();
  EXPECT_EQ(bound[0]["plugin"], "deploy");
  json shown = json::parse(daemon.Cli({"show", "web", "--json"}).out, nullptr, false);
  ASSERT_EQ(shown["bindings"].size(), 1u) << shown.dump(2);
  EXPECT_EQ(shown["bindings"][0]["source"], "config");
  // The config's binding is the config's to remove.
  auto unbind = daemon.Cli({"unbind", "web", "lb-prod:443"});
  EXPECT_EQ(unbind.exit_code, 1);
  EXPECT_TRUE(Contains(unbind.err, "declared")) << unbind.err;
  // A binding made by hand is never removed by reconciliation.
  ASSERT_EQ(daemon.Cli({"bind", "web", "manual:1"}).exit_code, 0);

  // The declaration deleted from the config, the daemon restarted (standing in for a reload):
  // the binding goes, with cert.unbound.
  daemon.Stop();
  WriteFile(daemon.config_file(), base_config);
  ASSERT_TRUE(daemon.Start());
  Events replayed = Replay(daemon);
  int unbound = 0;
  for (const auto& event : replayed) {
    if (event["type"] == "cert.unbound") {
      EXPECT_EQ(event["resource"], "lb-prod:443");
      ++unbound;
    }
  }
  EXPECT_EQ(unbound, 1);
  shown = json::parse(daemon.Cli({"show", "web", "--json"}).out, nullptr, false);
  ASSERT_EQ(shown["bindings"].size(), 1u) << shown.dump(2);
  EXPECT_EQ(shown["bindings"][0]["resource"], "manual:1");
  EXPECT_EQ(shown["bindings"][0]["source"], "cli");
  status = daemon.Cli({"status"});
  EXPECT_FALSE(Contains(status.out, "[[binding]]")) << status.out;

  // Declared again, the entry present at start: made at start.
  daemon.Stop();
  WriteFile(daemon.config_file(), base_config + declared);
  ASSERT_TRUE(daemon.Start());
  int bound_count = 0;
  for (const auto& event : Replay(daemon)) {
    bound_count += event["type"] == "cert.bound" && event["resource"] == "lb-prod:443";
  }
  EXPECT_EQ(bound_count, 2);
}

TEST(BindingsTest, SidecarBindBindsTheImportedEntry) {
  DaemonHarness daemon;
  ASSERT_TRUE(daemon.Start());
  DropLeaf(daemon, "web", "bind = [\"lb-prod:443\", \"lb-prod:8443\"]\n");
  daemon.WaitForEvents(Has("cert.bound", "web", "lb-prod:8443"));
  auto bound = daemon.EventsOfType("cert.bound");
  ASSERT_EQ(bound.size(), 2u) << daemon.log();
  EXPECT_EQ(bound[0]["resource"], "lb-prod:443");
  // Published after the entry's cert.imported.
  EXPECT_GT(bound[0]["seq"].get<int64_t>(),
            daemon.EventsOfType("cert.imported")[0]["seq"].get<int64_t>());
  json shown = json::parse(daemon.Cli({"show", "web", "--json"}).out, nullptr, false);
  ASSERT_EQ(shown["bindings"].size(), 2u) << shown.dump(2);
  EXPECT_EQ(shown["bindings"][0]["source"], "sidecar");

  // A sidecar binding a resource another entry holds: the drop is rejected, not half-stored.
  TestPki other = TestPki::Make(LeafSpec("other.example.test"));
  daemon.Drop("other.pem.toml", "name = \"other\"\nbind = [\"lb-prod:443\"]\n");
  daemon.Drop("other.pem", other.leaf.CertPem());
  daemon.WaitForEvents([](const Events& events) {
    for (const auto& e : events) {
      if (e.value("type", "") == "import.rejected") return true;
    }
    return false;
  });
  auto rejected = daemon.EventsOfType("import.rejected");
  ASSERT_EQ(rejected.size(), 1u) << daemon.log();
  EXPECT_EQ(rejected[0]["reason"], "resource_bound");
  EXPECT_TRUE(Contains(rejected[0]["message"].get<std::string>(), "default/web"));
  EXPECT_EQ(daemon.LsJson()["entries"].size(), 1u);
  EXPECT_TRUE(WaitUntil([&] { return fs::exists(daemon.failed() / "other.pem"); }));
}

}  // namespace
}  // namespace certinbox::testing
