// Plugins' control ops against the real daemon (docs/plugins.md "Control requests of plugins"):
// identity (token, unknown plugin), material only for resources bound to the plugin (refusals
// logged and audited), push reports recorded on the binding and published on the real SUB
// socket, and `export` refusing keys to plugins. The plugins here are declared but disabled:
// the test speaks for them with the tokens `plugin.env` gives.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/error.h"
#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/http_fetch.h"
#include "tests/testing/ports.h"
#include "tests/testing/test_ca.h"

namespace certinbox::testing {
namespace {

using nlohmann::json;
using Events = std::vector<json>;

// Two plugins the daemon knows but does not start.
HarnessOptions TwoPlugins() {
  HarnessOptions options;
  options.extra_toml =
      "[[plugin]]\nname = \"alpha\"\ncommand = \"/bin/true\"\nenabled = false\n\n"
      "[[plugin]]\nname = \"beta\"\ncommand = \"/bin/true\"\nenabled = false\n";
  return options;
}

std::string TokenOf(DaemonHarness& daemon, const std::string& plugin) {
  auto reply = daemon.control().Request("plugin.env", {{"plugin", plugin}});
  EXPECT_TRUE(reply.has_value()) << (reply ? "" : reply.error().message);
  if (!reply) return "";
  return (*reply)["env"].value("CERTINBOX_PLUGIN_TOKEN", "");
}

// A plugin's request with its identity.
base::Result<json> As(DaemonHarness& daemon, const std::string& plugin, const std::string& token,
                      const std::string& op, json args = json::object()) {
  args["plugin"] = plugin;
  args["token"] = token;
  return daemon.control().Request(op, std::move(args));
}

std::string ErrorCode(const base::Result<json>& reply) {
  return reply ? "(no error)" : reply.error().code;
}

// Drops a leaf and its key under the sidecar name `name` and waits for its cert.imported.
Issued DropLeaf(DaemonHarness& daemon, const std::string& name) {
  TestPki pki = TestPki::Make(LeafSpec(name + ".example.test"));
  daemon.Drop(name + ".pem.toml", "name = \"" + name + "\"\n");
  daemon.Drop(name + ".pem", pki.leaf.CertPem() + pki.leaf.KeyPem());
  daemon.WaitForEvents([&](const Events& events) {
    for (const auto& e : events) {
      if (e.value("type", "") == "cert.imported" && e["certificate"].value("name", "") == name) {
        return true;
      }
    }
    return false;
  });
  return pki.leaf;
}

void Bind(DaemonHarness& daemon, const std::string& entry, const std::string& resource,
          const std::string& plugin = "") {
  std::vector<std::string> args = {"bind", entry, resource};
  if (!plugin.empty()) {
    args.push_back("--plugin");
    args.push_back(plugin);
  }
  auto bound = daemon.Cli(args);
  ASSERT_EQ(bound.exit_code, 0) << bound.err;
}

json ShowJson(DaemonHarness& daemon, const std::string& entry) {
  auto shown = daemon.Cli({"show", entry, "--json"});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  auto parsed = json::parse(shown.out, nullptr, false);
  if (parsed.is_discarded()) return json::object();
  return parsed.contains("entry") ? parsed["entry"] : parsed;
}

json BindingOf(const json& shown, const std::string& resource) {
  for (const auto& binding : shown.value("bindings", json::array())) {
    if (binding.value("resource", "") == resource) return binding;
  }
  return nullptr;
}

// Whether a private key PEM is the key of a certificate PEM (OpenSSL decides).
bool KeyMatchesCertificate(const std::string& cert_pem, const std::string& key_pem) {
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  bool match = cert != nullptr && key != nullptr && X509_check_private_key(cert, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cert_bio);
  BIO_free(key_bio);
  return match;
}

TEST(PluginOpsTest, RequestsAreRefusedWithoutTheRightToken) {
  DaemonHarness daemon(TwoPlugins());
  ASSERT_TRUE(daemon.Start());
  const std::string alpha = TokenOf(daemon, "alpha");
  const std::string beta = TokenOf(daemon, "beta");
  ASSERT_EQ(alpha.size(), 64u);
  ASSERT_NE(alpha, beta);

  EXPECT_EQ(ErrorCode(As(daemon, "alpha", std::string(64, '0'), "plugin.hello")),
            "unauthenticated");
  EXPECT_EQ(ErrorCode(As(daemon, "alpha", "", "plugin.hello")), "unauthenticated");
  EXPECT_EQ(ErrorCode(As(daemon, "alpha", beta, "plugin.hello")), "unauthenticated");
  EXPECT_EQ(ErrorCode(As(daemon, "alpha", alpha.substr(0, 63), "plugin.bindings")),
            "unauthenticated");
  EXPECT_EQ(ErrorCode(As(daemon, "gamma", alpha, "plugin.hello")), "unknown_plugin");
  EXPECT_EQ(ErrorCode(As(daemon, "gamma", alpha, "material", {{"resource", "x"}})),
            "unknown_plugin");
  auto no_token = daemon.control().Request(
      "push.report", {{"plugin", "alpha"}, {"resource", "x"}, {"version", 1}, {"ok", true}});
  EXPECT_EQ(ErrorCode(no_token), "unauthenticated");

  auto hello = As(daemon, "alpha", alpha, "plugin.hello");
  ASSERT_TRUE(hello.has_value()) << hello.error().message;
  EXPECT_EQ((*hello)["plugin"], "alpha");
  EXPECT_EQ((*hello)["cursor"], "plugin:alpha");
  EXPECT_TRUE((*hello)["seq"].is_number_integer());
  EXPECT_TRUE((*hello)["events"].is_array());
  EXPECT_TRUE((*hello)["options"].is_object());
  EXPECT_GE((*hello)["last_seq"].get<int64_t>(), (*hello)["seq"].get<int64_t>());
  EXPECT_TRUE(Contains(daemon.log(), "wrong or missing token for plugin alpha")) << daemon.log();
}

TEST(PluginOpsTest, MaterialOnlyForResourcesBoundToThePlugin) {
  DaemonHarness daemon(TwoPlugins());
  ASSERT_TRUE(daemon.Start());
  const std::string alpha = TokenOf(daemon, "alpha");
  Issued web = DropLeaf(daemon, "web");
  DropLeaf(daemon, "other");
  DropLeaf(daemon, "loose");
  Bind(daemon, "web", "res-a", "alpha");
  Bind(daemon, "other", "res-b", "beta");
  Bind(daemon, "loose", "res-c");

  auto bindings = As(daemon, "alpha", alpha, "plugin.bindings");
  ASSERT_TRUE(bindings.has_value()) << bindings.error().message;
  ASSERT_EQ((*bindings)["bindings"].size(), 1u) << bindings->dump();
  const json& bound = (*bindings)["bindings"][0];
  EXPECT_EQ(bound["resource"], "res-a");
  EXPECT_EQ(bound["entry"], "default/web");
  EXPECT_EQ(bound["version"], 1);
  EXPECT_EQ(bound["fingerprint_sha256"], web.Fingerprint());
  EXPECT_EQ(bound["has_private_key"], true);
  EXPECT_TRUE(bound["pushed_version"].is_null());

  // Without the key: certificates only, no audit row.
  auto certs = As(daemon, "alpha", alpha, "material", {{"resource", "res-a"}});
  ASSERT_TRUE(certs.has_value()) << certs.error().message;
  EXPECT_EQ((*certs)["cert_pem"], web.CertPem());
  EXPECT_EQ((*certs)["entry"], "default/web");
  EXPECT_EQ((*certs)["version"], 1);
  EXPECT_EQ((*certs)["fingerprint_sha256"], web.Fingerprint());
  EXPECT_FALSE(certs->contains("key_pem"));
  EXPECT_TRUE(ShowJson(daemon, "web")["key_exports"].empty());

  // With the key: the certificate's key, and an audit row.
  auto with_key = As(daemon, "alpha", alpha, "material", {{"resource", "res-a"}, {"key", true}});
  ASSERT_TRUE(with_key.has_value()) << with_key.error().message;
  EXPECT_TRUE(KeyMatchesCertificate((*with_key)["cert_pem"], (*with_key)["key_pem"]));
  json exports = ShowJson(daemon, "web")["key_exports"];
  ASSERT_EQ(exports.size(), 1u) << exports.dump();
  EXPECT_EQ(exports[0]["outcome"], "exported");
  EXPECT_EQ(exports[0]["endpoint"], "plugin:alpha");
  EXPECT_EQ(exports[0]["what"], "key");

  // Another plugin's resource, one without plugin, one bound to nothing: forbidden.
  for (const char* resource : {"res-b", "res-c", "res-none"}) {
    SCOPED_TRACE(resource);
    EXPECT_EQ(
        ErrorCode(As(daemon, "alpha", alpha, "material", {{"resource", resource}, {"key", true}})),
        "forbidden");
    EXPECT_EQ(ErrorCode(As(daemon, "alpha", alpha, "material", {{"resource", resource}})),
              "forbidden");
  }
  json refused = ShowJson(daemon, "other")["key_exports"];
  ASSERT_EQ(refused.size(), 1u) << refused.dump();  // the key request only
  EXPECT_EQ(refused[0]["outcome"], "refused");
  EXPECT_EQ(refused[0]["reason"], "forbidden");
  EXPECT_EQ(refused[0]["endpoint"], "plugin:alpha");
  EXPECT_EQ(ShowJson(daemon, "loose")["key_exports"].size(), 1u);
  const std::string log = daemon.log();
  EXPECT_TRUE(Contains(log, "plugin alpha: material of res-b refused")) << log;
  EXPECT_TRUE(Contains(log,
                       "key export of default/other v1 (key) to plugin alpha for res-b: "
                       "refused (forbidden)"))
      << log;

  // export: certificates for anyone, but no key or PKCS#12 to a plugin.
  EXPECT_EQ(ErrorCode(daemon.control().Request(
                "export", {{"entry", "web"}, {"key", true}, {"plugin", "alpha"}})),
            "forbidden");
  EXPECT_EQ(
      ErrorCode(daemon.control().Request(
          "export", {{"entry", "web"}, {"pfx", true}, {"password", "pw"}, {"plugin", "alpha"}})),
      "forbidden");
  EXPECT_TRUE(
      daemon.control().Request("export", {{"entry", "web"}, {"plugin", "alpha"}}).has_value());
  exports = ShowJson(daemon, "web")["key_exports"];
  ASSERT_EQ(exports.size(), 3u) << exports.dump();  // the material key, then two refusals
  EXPECT_EQ(exports[1]["outcome"], "refused");
  EXPECT_EQ(exports[1]["reason"], "forbidden");
}

TEST(PluginOpsTest, PushReportsAreRecordedOnTheBindingAndPublished) {
  const int port = FreeLoopbackPort();
  HarnessOptions options = TwoPlugins();
  options.http_toml = "listen = \"127.0.0.1:" + std::to_string(port) + "\"\n";
  DaemonHarness daemon(options);
  ASSERT_TRUE(daemon.Start());
  const std::string alpha = TokenOf(daemon, "alpha");
  Issued web = DropLeaf(daemon, "web");
  DropLeaf(daemon, "other");
  Bind(daemon, "web", "res-a", "alpha");
  Bind(daemon, "other", "res-b", "beta");

  const std::string long_output = std::string(3000, 'x') + std::string(3000, 'y') + "END";
  auto pushed = As(daemon, "alpha", alpha, "push.report",
                   {{"resource", "res-a"},
                    {"version", 1},
                    {"ok", true},
                    {"message", "reloaded nginx"},
                    {"exit_status", 0},
                    {"output", long_output}});
  ASSERT_TRUE(pushed.has_value()) << pushed.error().message;
  const int64_t seq = (*pushed)["seq"];
  daemon.WaitForEvents(HasEvents("push.succeeded"));
  auto succeeded = daemon.EventsOfType("push.succeeded");
  ASSERT_EQ(succeeded.size(), 1u) << daemon.log();
  const json& event = succeeded[0];
  EXPECT_EQ(event["seq"], seq);
  EXPECT_EQ(event["resource"], "res-a");
  EXPECT_EQ(event["plugin"], "alpha");
  EXPECT_EQ(event["version"], 1);
  EXPECT_EQ(event["message"], "reloaded nginx");
  EXPECT_EQ(event["exit_status"], 0);
  EXPECT_EQ(event["output"].get<std::string>().size(), 4096u);  // the tail is kept
  EXPECT_TRUE(event["output"].get<std::string>().ends_with("yyyEND"));
  EXPECT_EQ(event["certificate"]["fingerprint_sha256"], web.Fingerprint());

  json binding = BindingOf(ShowJson(daemon, "web"), "res-a");
  EXPECT_EQ(binding["pushed_version"], 1) << binding.dump();
  EXPECT_EQ(binding["last_push_result"], "succeeded");
  EXPECT_EQ(binding["last_push_message"], "reloaded nginx");
  EXPECT_FALSE(binding["pushed_at"].is_null());

  // A failure: recorded as the last push; the version pushed before stays.
  auto failed = As(daemon, "alpha", alpha, "push.report",
                   {{"resource", "res-a"},
                    {"version", 1},
                    {"ok", false},
                    {"message", "nginx -s reload: exit 1"},
                    {"exit_status", 1}});
  ASSERT_TRUE(failed.has_value()) << failed.error().message;
  daemon.WaitForEvents(HasEvents("push.failed"));
  auto failures = daemon.EventsOfType("push.failed");
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0]["exit_status"], 1);
  EXPECT_EQ(failures[0]["output"], "");
  binding = BindingOf(ShowJson(daemon, "web"), "res-a");
  EXPECT_EQ(binding["pushed_version"], 1);
  EXPECT_EQ(binding["last_push_result"], "failed");
  EXPECT_EQ(binding["last_push_message"], "nginx -s reload: exit 1");

  auto bindings = As(daemon, "alpha", alpha, "plugin.bindings");
  ASSERT_TRUE(bindings.has_value());
  EXPECT_EQ((*bindings)["bindings"][0]["last_push_result"], "failed");
  EXPECT_EQ((*bindings)["bindings"][0]["pushed_version"], 1);

  // Not its resource, a version the entry does not have, a missing argument.
  EXPECT_EQ(ErrorCode(As(daemon, "alpha", alpha, "push.report",
                         {{"resource", "res-b"}, {"version", 1}, {"ok", true}})),
            "forbidden");
  EXPECT_EQ(ErrorCode(As(daemon, "alpha", alpha, "push.report",
                         {{"resource", "res-a"}, {"version", 7}, {"ok", true}})),
            "not_found");
  EXPECT_EQ(
      ErrorCode(As(daemon, "alpha", alpha, "push.report", {{"resource", "res-a"}, {"ok", true}})),
      "bad_request");
  EXPECT_TRUE(BindingOf(ShowJson(daemon, "other"), "res-b")["last_push_result"].is_null());
  // Nothing else was published.
  auto replay = sdk::EventsSince(daemon.control(), 0, "push.");
  ASSERT_TRUE(replay.has_value());
  EXPECT_EQ(replay->size(), 2u);

  // /metrics counts the failure against its plugin, and says the last push to res-a failed.
  HttpReply metrics = HttpFetch("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics.error;
  EXPECT_NE(metrics.body.find("certinbox_push_failures_total{plugin=\"alpha\"} 1\n"),
            std::string::npos)
      << metrics.body;
  EXPECT_EQ(metrics.body.find("certinbox_push_failures_total{plugin=\"beta\"}"), std::string::npos);
  EXPECT_NE(metrics.body.find("certinbox_binding_last_push_succeeded{resource=\"res-a\","
                              "entry=\"default/web\",plugin=\"alpha\"} 0\n"),
            std::string::npos)
      << metrics.body;
}

TEST(PluginOpsTest, PluginReportsAreLogged) {
  DaemonHarness daemon(TwoPlugins());
  ASSERT_TRUE(daemon.Start());
  const std::string beta = TokenOf(daemon, "beta");
  EXPECT_TRUE(As(daemon, "beta", beta, "plugin.report",
                 {{"level", "warning"}, {"message", "disk nearly full"}})
                  .has_value());
  EXPECT_EQ(
      ErrorCode(As(daemon, "beta", beta, "plugin.report", {{"level", "loud"}, {"message", "x"}})),
      "bad_request");
  EXPECT_TRUE(Contains(daemon.log(), "plugin beta reports: disk nearly full")) << daemon.log();

  // An error becomes the plugin's last_error in `status`.
  ASSERT_TRUE(As(daemon, "beta", beta, "plugin.report",
                 {{"level", "error"}, {"message", "cannot write /etc/x"}})
                  .has_value());
  auto status = daemon.control().Request("status");
  ASSERT_TRUE(status.has_value());
  json last_error;
  for (const auto& plugin : (*status)["plugins"]) {
    if (plugin.value("name", "") == "beta") last_error = plugin["last_error"];
  }
  EXPECT_EQ(last_error, "cannot write /etc/x") << status->dump();
}

}  // namespace
}  // namespace certinbox::testing
