// Issue 5's must-show: a real nginx on a loopback port serves what certinbox-deploy writes. The
// real daemon supervises the real plugin; `openssl s_client` (the real CLI) reads what nginx
// serves; renewals and rollbacks reach it within seconds.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/ports.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kNginx = "/usr/sbin/nginx";
constexpr int64_t kDay = 86400;

// A real nginx in a temporary folder of its own: config, pid, logs and temp paths all under it,
// TLS on a free loopback port with the certificate files of `deploy_dir`. Started in its own
// process group with `daemon off;`; the destructor stops the whole group, also when the test
// failed half way.
class Nginx {
 public:
  Nginx() : prefix_("cbx-nginx-", TempDir::Keep::kOnFailure) {
    fs::create_directories(prefix_ / "tmp");
    fs::create_directories(deploy_dir());
    port_ = FreeLoopbackPort();
    std::ofstream conf(conf_file());
    std::string p = prefix_.path().string();
    conf << "worker_processes 1;\n"
         << "pid " << p << "/nginx.pid;\n"
         << "error_log " << error_log() << " info;\n"
         << "events { worker_connections 64; }\n"
         << "http {\n"
         << "  access_log off;\n"
         << "  client_body_temp_path " << p << "/tmp/body;\n"
         << "  proxy_temp_path " << p << "/tmp/proxy;\n"
         << "  fastcgi_temp_path " << p << "/tmp/fastcgi;\n"
         << "  uwsgi_temp_path " << p << "/tmp/uwsgi;\n"
         << "  scgi_temp_path " << p << "/tmp/scgi;\n"
         << "  server {\n"
         << "    listen 127.0.0.1:" << port_ << " ssl;\n"
         << "    server_name web.example;\n"
         << "    ssl_certificate " << (deploy_dir() / "fullchain.pem").string() << ";\n"
         << "    ssl_certificate_key " << (deploy_dir() / "privkey.pem").string() << ";\n"
         << "    location / { return 200 \"certinbox\\n\"; }\n"
         << "  }\n"
         << "}\n";
  }

  ~Nginx() {
    Stop();
    if (::testing::Test::HasFailure()) std::cerr << "nginx error log:\n" << ReadFile(error_log());
  }

  // A placeholder self-signed certificate so nginx can start before anything is deployed.
  void WritePlaceholder() {
    Issued placeholder = Issue(LeafSpec("placeholder.example"));
    WriteFile(deploy_dir() / "fullchain.pem", placeholder.CertPem());
    WriteFile(deploy_dir() / "privkey.pem", placeholder.KeyPem());
    ::chmod((deploy_dir() / "privkey.pem").c_str(), 0600);
    placeholder_fingerprint_ = placeholder.Fingerprint();
  }

  // Starts nginx and waits (bounded) until the port accepts connections.
  bool Start() {
    process_.emplace(std::vector<std::string>{kNginx, "-p", prefix_.path().string(), "-c",
                                              conf_file(), "-e", error_log(), "-g", "daemon off;"},
                     SpawnOptions{.stdout_file = (prefix_ / "stdout.log").string(),
                                  .stderr_to_stdout = true,
                                  .own_process_group = true});
    if (!process_->running()) {
      ADD_FAILURE() << "cannot start " << kNginx;
      return false;
    }
    bool exited = false;
    if (WaitUntil([&] { return (exited = process_->Wait(0ms).has_value()) || Accepts(port_); })) {
      if (!exited) return true;
      ADD_FAILURE() << "nginx exited at start:\n"
                    << ReadFile(prefix_ / "stdout.log") << ReadFile(error_log());
      return false;
    }
    ADD_FAILURE() << "nginx did not listen on 127.0.0.1:" << port_ << ":\n"
                  << ReadFile(error_log());
    return false;
  }

  void Stop() {
    // Fast shutdown of the master and its workers; whatever is left of the group is killed.
    if (process_) process_->Stop(SIGTERM, 10s);
  }

  // The command line that makes this nginx reload its config and certificates.
  std::string ReloadCommand() const {
    return std::string(kNginx) + " -p '" + prefix_.path().string() + "' -c '" + conf_file() +
           "' -e '" + error_log() + "' -s reload";
  }

  int port() const { return port_; }
  fs::path deploy_dir() const { return prefix_ / "certs" / "web"; }
  std::string conf_file() const { return (prefix_ / "nginx.conf").string(); }
  std::string error_log() const { return (prefix_ / "error.log").string(); }
  const std::string& placeholder_fingerprint() const { return placeholder_fingerprint_; }

 private:
  TempDir prefix_;
  int port_ = -1;
  std::optional<ChildProcess> process_;
  std::string placeholder_fingerprint_;
};

// The SHA-256 fingerprint of the certificate `openssl s_client` gets from 127.0.0.1:port with
// SNI `server_name`; "" when there was none (the output is in `detail`).
std::string ServedFingerprint(int port, const std::string& server_name, std::string* detail) {
  CommandResult result =
      RunCommand({"/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                  "-servername", server_name},
                 15s);
  *detail = "exit " + std::to_string(result.exit_code) + "\n" + result.out + result.err;
  auto begin = result.out.find("-----BEGIN CERTIFICATE-----");
  auto end = result.out.find("-----END CERTIFICATE-----");
  if (begin == std::string::npos || end == std::string::npos) return "";
  std::string pem = result.out.substr(begin, end + 25 - begin) + "\n";
  pipeline::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  pipeline::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return "";
  return Sha256Fingerprint(cert.get());
}

// Polls (bounded) until nginx serves `fingerprint`: a reload is asynchronous (new workers start,
// old ones finish), so the first connections after it may still get the old certificate.
bool WaitUntilServed(int port, const std::string& fingerprint, std::string* last,
                     std::chrono::seconds within = 20s) {
  std::string detail;
  if (WaitUntil(
          [&] { return (*last = ServedFingerprint(port, "web.example", &detail)) == fingerprint; },
          within, 200ms)) {
    return true;
  }
  *last += "\n" + detail;
  return false;
}

json ShowJson(const DaemonHarness& daemon, const std::string& entry) {
  CommandResult shown = daemon.Cli({"show", entry, "--json"});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  return json::parse(shown.out, nullptr, false);
}

json BindingOf(const json& entry, const std::string& resource) {
  if (!entry.is_object() || !entry.contains("bindings")) return nullptr;
  for (const auto& binding : entry["bindings"]) {
    if (binding.value("resource", "") == resource) return binding;
  }
  return nullptr;
}

// A push event for `resource` at `version` (push.succeeded or push.failed).
auto HasPush(const std::string& type, const std::string& resource, int64_t version) {
  return [=](const std::vector<json>& events) {
    for (const auto& event : events) {
      if (event.value("type", "") == type && event.value("resource", "") == resource &&
          event.value("version", int64_t{-1}) == version) {
        return true;
      }
    }
    return false;
  };
}

// Polls `show --json` (bounded) until the binding records `version` as pushed.
json WaitForPushedVersion(const DaemonHarness& daemon, const std::string& entry,
                          const std::string& resource, int64_t version) {
  json binding;
  WaitUntil(
      [&] {
        binding = BindingOf(ShowJson(daemon, entry), resource);
        return binding.is_object() && binding["pushed_version"] == version;
      },
      20s, 100ms);
  return binding;
}

std::string PluginToml(const std::string& resource_dir, const std::string& reload) {
  return "[[plugin]]\n"
         "name = \"deploy\"\n"
         "command = \"certinbox-deploy\"\n"
         "events = [\"cert.\"]\n"
         "[plugin.options]\n"
         "retry = \"1s\"\n"
         "[plugin.options.resources.\"web\"]\n"
         "dir = " +
         json(resource_dir).dump() + "\nreload = " + json(reload).dump() + "\ntimeout = \"20s\"\n";
}

TEST(NginxTest, BindRenewAndRollBackReachARealNginx) {
  ASSERT_TRUE(fs::exists(kNginx)) << kNginx
                                  << " is missing: install nginx (scripts/install-deps.sh)";
  Nginx nginx;
  nginx.WritePlaceholder();
  ASSERT_TRUE(nginx.Start());
  std::string served;
  ASSERT_TRUE(WaitUntilServed(nginx.port(), nginx.placeholder_fingerprint(), &served)) << served;

  HarnessOptions options;
  options.extra_toml = PluginToml(nginx.deploy_dir().string(), nginx.ReloadCommand());
  DaemonHarness daemon(options);
  ASSERT_TRUE(daemon.Start());

  // Version 1: leaf for web.example, its key and its chain.
  const int64_t now = NowUnix();
  CertSpec spec = LeafSpec("web.example");
  spec.not_before = now - 3600;
  spec.not_after = now + 100 * kDay;
  TestPki pki = TestPki::Make(spec);
  const Issued& v1 = pki.leaf;
  daemon.Drop("web.toml", "name = \"web\"\n");
  daemon.Drop("web.pem", pki.ChainPem() + v1.KeyPem());
  // The chain's CA certificates become entries of their own; the leaf is "web".
  daemon.WaitForEvents([&](const std::vector<json>& events) {
    return !FindByFingerprint(events, v1.Fingerprint()).is_null();
  });
  json imported = FindByFingerprint(daemon.EventsOfType("cert.imported"), v1.Fingerprint());
  ASSERT_FALSE(imported.is_null()) << daemon.log();
  ASSERT_EQ(imported["certificate"]["name"], "web") << imported.dump();

  CommandResult bind = daemon.Cli({"bind", "web", "web", "--plugin", "deploy"});
  ASSERT_EQ(bind.exit_code, 0) << bind.err << bind.out;
  daemon.WaitForEvents(HasPush("push.succeeded", "web", 1), 30s);
  ASSERT_TRUE(HasPush("push.succeeded", "web", 1)(daemon.EventsOfType("push.succeeded")))
      << daemon.log();
  ASSERT_TRUE(WaitUntilServed(nginx.port(), v1.Fingerprint(), &served))
      << "nginx does not serve version 1; it serves " << served << "\n"
      << daemon.log();
  json binding = WaitForPushedVersion(daemon, "web", "web", 1);
  EXPECT_EQ(binding["pushed_version"], 1) << binding.dump();
  EXPECT_EQ(binding["plugin"], "deploy") << binding.dump();
  EXPECT_EQ(binding["last_push_result"], "succeeded") << binding.dump();
  EXPECT_FALSE(binding["pushed_at"].is_null()) << binding.dump();

  // The files: the key 0600, the others 0644; fullchain = cert + chain.
  const fs::path dir = nginx.deploy_dir();
  struct stat st {};
  ASSERT_EQ(::stat((dir / "privkey.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((dir / "cert.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(ReadFile(dir / "cert.pem"), v1.CertPem());
  const std::string chain = ReadFile(dir / "chain.pem");
  EXPECT_NE(chain.find(pki.intermediate.CertPem()), std::string::npos) << chain;
  EXPECT_EQ(ReadFile(dir / "fullchain.pem"), ReadFile(dir / "cert.pem") + chain);
  EXPECT_NE(ReadFile(dir / "privkey.pem").find("PRIVATE KEY-----"), std::string::npos);
  for (const auto& item : fs::directory_iterator(dir)) {
    EXPECT_FALSE(item.path().filename().string().starts_with(".")) << item.path();  // no temp
  }

  // A renewal dropped into the inbox: same CN and SANs, a later expiry, a new key.
  CertSpec renewal = LeafSpec("web.example");
  renewal.not_before = now - 60;
  renewal.not_after = now + 400 * kDay;
  Issued v2 = Issue(renewal, &pki.intermediate);
  const auto renewal_dropped = Clock::now();
  daemon.Drop("web-renewed.pem", v2.CertPem() + pki.intermediate.CertPem() + v2.KeyPem());
  daemon.WaitForEvents(HasPush("push.succeeded", "web", 2), 30s);
  ASSERT_EQ(daemon.EventsOfType("cert.renewed").size(), 1u) << daemon.log();
  ASSERT_TRUE(HasPush("push.succeeded", "web", 2)(daemon.EventsOfType("push.succeeded")))
      << daemon.log();
  ASSERT_TRUE(WaitUntilServed(nginx.port(), v2.Fingerprint(), &served))
      << "nginx does not serve version 2; it serves " << served << "\n"
      << daemon.log();
  // "Within seconds": the generous bound is for loaded test machines.
  EXPECT_LT(Clock::now() - renewal_dropped, 30s);
  binding = WaitForPushedVersion(daemon, "web", "web", 2);
  EXPECT_EQ(binding["pushed_version"], 2) << binding.dump();
  EXPECT_EQ(ReadFile(dir / "cert.pem"), v2.CertPem());
  for (const auto& event : daemon.EventsOfType("push.succeeded")) {
    if (event.value("version", 0) == 2) {
      EXPECT_EQ(event["resource"], "web") << event.dump();
      EXPECT_EQ(event["plugin"], "deploy") << event.dump();
      EXPECT_EQ(event["exit_status"], 0) << event.dump();
    }
  }

  // Roll back: nginx serves version 1 again, and the binding records it.
  CommandResult rollback = daemon.Cli({"rollback", "web", "--to", "1"});
  ASSERT_EQ(rollback.exit_code, 0) << rollback.err;
  daemon.WaitForEvents(
      [](const std::vector<json>& events) {
        int n = 0;
        for (const auto& e : events) {
          n += e.value("type", "") == "push.succeeded" && e.value("version", 0) == 1;
        }
        return n >= 2;
      },
      30s);
  ASSERT_TRUE(WaitUntilServed(nginx.port(), v1.Fingerprint(), &served))
      << "nginx does not serve version 1 after the rollback; it serves " << served << "\n"
      << daemon.log();
  binding = WaitForPushedVersion(daemon, "web", "web", 1);
  EXPECT_EQ(binding["pushed_version"], 1) << binding.dump();
  EXPECT_EQ(ReadFile(dir / "cert.pem"), v1.CertPem());
  EXPECT_EQ(daemon.EventsOfType("push.failed").size(), 0u) << daemon.log();

  // The plugin's log lines reach the daemon's log.
  EXPECT_NE(daemon.log().find("plugin deploy"), std::string::npos) << daemon.log();
}

}  // namespace
}  // namespace certinbox::testing
