// Issue 14's listener under the real daemon: /metrics read by libcurl, checked by the real
// `promtool check metrics` and scraped by a real Prometheus on a loopback port, whose HTTP API
// must return the imported certificate's notAfter; the bearer token, the methods, the paths,
// and a stop with connections held open.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/files.h"
#include "tests/testing/http_fetch.h"
#include "tests/testing/ports.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int64_t kDay = 86400;
constexpr const char* kPromtool = "/usr/bin/promtool";
constexpr const char* kPrometheus = "/usr/bin/prometheus";

using Reply = HttpReply;

Reply Fetch(const std::string& url, const std::string& method = "GET",
            const std::vector<std::string>& headers = {}) {
  return HttpFetch(url,
                   {.method = method, .headers = headers, .body = method == "POST" ? "x=1" : ""});
}

// One sample of the exposition: its labels (unescaped) and its value.
struct Sample {
  std::map<std::string, std::string> labels;
  std::string value;
};

// The samples of `metric` in `text` (a small reader of the text format, enough for the tests).
std::vector<Sample> Samples(const std::string& text, const std::string& metric) {
  std::vector<Sample> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with(metric + "{") && !line.starts_with(metric + " ")) continue;
    Sample sample;
    size_t i = metric.size();
    if (line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        std::string name = line.substr(i, eq - i);
        std::string value;
        for (i = eq + 2; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value += line[i] == 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
        }
        sample.labels[name] = value;
        ++i;  // the closing quote
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;  // '}'
    }
    sample.value = line.substr(i + 1);
    out.push_back(sample);
  }
  return out;
}

std::optional<Sample> SampleOf(const std::string& text, const std::string& metric,
                               const std::string& filename) {
  for (auto& sample : Samples(text, metric)) {
    if (sample.labels["filename"] == filename || sample.labels["name"] == filename) return sample;
  }
  return std::nullopt;
}

// The value of the sample of `metric` whose label `name` is `value`; "" when there is none.
std::string ValueWhere(const std::string& text, const std::string& metric, const std::string& name,
                       const std::string& value) {
  for (auto& sample : Samples(text, metric)) {
    if (sample.labels[name] == value) return sample.value;
  }
  return "";
}

// A CA and a leaf it signed, with names in every field the exporter labels, a fixed serial and
// fixed dates.
struct Fixture {
  int64_t not_before = NowUnix() - kDay;
  int64_t not_after = NowUnix() + 200 * kDay;
  Issued ca, leaf;

  Fixture() {
    CertSpec ca_spec = CaSpec("Metrics Test CA");
    ca_spec.organization = "Test \"Quoted\" CA";
    ca = Issue(ca_spec);
    CertSpec spec = LeafSpec("web.metrics.test");
    spec.organization = "Example Org";
    spec.serial = 1234567890123ULL;
    spec.not_before = not_before;
    spec.not_after = not_after;
    leaf = Issue(spec, &ca);
  }

  // Drops the leaf (with its key) as entry edge/web and waits for its import.
  void Import(DaemonHarness& daemon) const {
    daemon.Drop("web.toml", "name = \"web\"\ngroup = \"edge\"\nlabels = [\"prod\", \"lb\"]\n");
    daemon.Drop("web.pem", leaf.CertPem() + leaf.KeyPem());
    daemon.WaitForEvents(HasEvents("cert.imported"));
  }
};

HarnessOptions WithHttp(int port, const std::string& more = "") {
  HarnessOptions options;
  options.http_toml = "listen = \"127.0.0.1:" + std::to_string(port) + "\"\n" + more;
  return options;
}

std::string Url(int port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

TEST(HttpTest, MetricsHaveTheExporterSeriesOfEachCertificate) {
  const int port = FreeLoopbackPort();
  Fixture fixture;
  DaemonHarness daemon(WithHttp(port, "expires_in_seconds = true"));
  ASSERT_TRUE(daemon.Start());
  fixture.Import(daemon);
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();
  daemon.Drop("junk.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  daemon.WaitForEvents(HasEvents("import.rejected"));
  ASSERT_TRUE(daemon.Cli({"bind", "edge/web", "lb:443"}).exit_code == 0) << daemon.log();

  Reply reply = Fetch(Url(port, "/metrics"));
  ASSERT_EQ(reply.status, 200) << reply.error << daemon.log();
  EXPECT_EQ(reply.content_type, "text/plain; version=0.0.4; charset=utf-8");
  auto not_after = SampleOf(reply.body, "x509_cert_not_after", "web");
  ASSERT_TRUE(not_after) << reply.body;
  EXPECT_EQ(std::stoll(not_after->value), fixture.not_after);
  auto& labels = not_after->labels;
  EXPECT_EQ(labels["serial_number"], "1234567890123");
  EXPECT_EQ(labels["subject_CN"], "web.metrics.test");
  EXPECT_EQ(labels["subject_O"], "Example Org");
  EXPECT_EQ(labels["subject_C"], "");
  EXPECT_EQ(labels["issuer_CN"], "Metrics Test CA");
  EXPECT_EQ(labels["issuer_O"], "Test \"Quoted\" CA");  // escaped in the text, read back here
  EXPECT_EQ(labels["filename"], "web");
  EXPECT_EQ(labels["filepath"], "edge/web");
  for (const char* field : {"C", "ST", "L", "O", "OU", "CN"}) {
    EXPECT_TRUE(labels.contains(std::string("subject_") + field)) << field;
    EXPECT_TRUE(labels.contains(std::string("issuer_") + field)) << field;
  }
  auto not_before = SampleOf(reply.body, "x509_cert_not_before", "web");
  ASSERT_TRUE(not_before);
  EXPECT_EQ(std::stoll(not_before->value), fixture.not_before);
  auto expired = SampleOf(reply.body, "x509_cert_expired", "web");
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->value, "0");
  auto expires_in = SampleOf(reply.body, "x509_cert_expires_in_seconds", "web");
  ASSERT_TRUE(expires_in);
  EXPECT_NEAR(std::stod(expires_in->value), static_cast<double>(fixture.not_after - NowUnix()),
              120.0);

  // certinbox's own series.
  auto info = SampleOf(reply.body, "certinbox_entry_info", "web");
  ASSERT_TRUE(info) << reply.body;
  EXPECT_EQ(info->labels["group"], "edge");
  EXPECT_EQ(info->labels["kind"], "leaf");
  EXPECT_EQ(info->labels["status"], "valid");
  EXPECT_EQ(info->labels["fingerprint"], fixture.leaf.Fingerprint());
  EXPECT_EQ(info->labels["labels"], "lb,prod");
  bool counted = false;
  for (const auto& sample : Samples(reply.body, "certinbox_entries")) {
    if (sample.labels.at("status") == "valid") counted = sample.value == "1";
  }
  EXPECT_TRUE(counted) << reply.body;
  EXPECT_EQ(Samples(reply.body, "certinbox_event_last_seq").at(0).value,
            std::to_string(daemon.LastSeq()));
  EXPECT_EQ(Samples(reply.body, "certinbox_build_info").size(), 1u);
  EXPECT_EQ(ValueWhere(reply.body, "certinbox_imports_total", "outcome", "imported"), "1");
  EXPECT_EQ(ValueWhere(reply.body, "certinbox_imports_total", "outcome", "rejected"), "1");
  const std::string reason = daemon.EventsOfType("import.rejected").at(0)["reason"];
  EXPECT_EQ(ValueWhere(reply.body, "certinbox_rejections_total", "reason", reason), "1")
      << reply.body;
  EXPECT_EQ(ValueWhere(reply.body, "certinbox_inbox_backlog", "inbox", "inbox"), "0");
  // The two files' import latencies (the import and the rejection), and the events published.
  EXPECT_EQ(Samples(reply.body, "certinbox_import_duration_seconds_count").at(0).value, "2");
  EXPECT_EQ(ValueWhere(reply.body, "certinbox_import_duration_seconds_bucket", "le", "+Inf"), "2");
  EXPECT_EQ(ValueWhere(reply.body, "certinbox_events_published_total", "type", "cert.imported"),
            "1");
  EXPECT_EQ(ValueWhere(reply.body, "certinbox_events_published_total", "type", "import.rejected"),
            "1");
  EXPECT_EQ(ValueWhere(reply.body, "certinbox_binding_current_version", "resource", "lb:443"), "1");
  EXPECT_EQ(ValueWhere(reply.body, "certinbox_binding_pushed_version", "resource", "lb:443"), "0");
  // Never key material.
  EXPECT_EQ(reply.body.find("PRIVATE KEY"), std::string::npos);

  // HEAD: the headers, no body; not even a chunked body's terminator before the next response
  // on the same connection.
  Reply head = Fetch(Url(port, "/metrics"), "HEAD");
  EXPECT_EQ(head.status, 200) << head.error;
  EXPECT_TRUE(head.body.empty());
  const int fd = ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  const std::string two =
      "HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\nGET /nothing HTTP/1.1\r\nHost: t\r\n"
      "Connection: close\r\n\r\n";
  ASSERT_EQ(::send(fd, two.data(), two.size(), MSG_NOSIGNAL), static_cast<ssize_t>(two.size()));
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string replies;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) replies.append(buffer, n);
  ::close(fd);
  const size_t end_of_head = replies.find("\r\n\r\n");
  ASSERT_NE(end_of_head, std::string::npos) << replies;
  EXPECT_TRUE(replies.substr(end_of_head + 4).starts_with("HTTP/1.1 404")) << replies;

  // promtool accepts the exposition.
  if (!fs::exists(kPromtool)) GTEST_FAIL() << kPromtool << " missing: scripts/install-deps.sh";
  const fs::path file = daemon.root() / "metrics.txt";
  WriteFile(file, reply.body);
  CommandResult check = RunCommand(
      {"/bin/sh", "-c", std::string(kPromtool) + " check metrics < '" + file.string() + "'"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST(HttpTest, OnlyGetAndHeadOfKnownPaths) {
  const int port = FreeLoopbackPort();
  DaemonHarness daemon(WithHttp(port));
  ASSERT_TRUE(daemon.Start());
  EXPECT_EQ(Fetch(Url(port, "/metrics"), "POST").status, 405);
  EXPECT_EQ(Fetch(Url(port, "/metrics"), "DELETE").status, 405);
  EXPECT_EQ(Fetch(Url(port, "/nothing-here")).status, 404);
  EXPECT_EQ(Fetch(Url(port, "/" + std::string(4000, 'a'))).status, 414);
  EXPECT_EQ(Fetch(Url(port, "/metrics")).status, 200);
}

TEST(HttpTest, WithATokenOnlyTheRightBearerIsServed) {
  const int port = FreeLoopbackPort();
  DaemonHarness daemon(WithHttp(port, "token_file = \"http.token\""));
  WriteFile(daemon.root() / "http.token", "s3cret-Token_1\n");
  ASSERT_TRUE(daemon.Start());
  EXPECT_EQ(Fetch(Url(port, "/metrics")).status, 401);
  EXPECT_EQ(Fetch(Url(port, "/metrics"), "GET", {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(Fetch(Url(port, "/metrics"), "GET", {"Authorization: Bearer s3cret-Token_"}).status,
            401);
  EXPECT_EQ(
      Fetch(Url(port, "/metrics"), "GET", {"Authorization: Basic czNjcmV0LVRva2VuXzE="}).status,
      401);
  Reply ok = Fetch(Url(port, "/metrics"), "GET", {"Authorization: Bearer s3cret-Token_1"});
  EXPECT_EQ(ok.status, 200) << ok.error;
  EXPECT_NE(ok.body.find("certinbox_build_info"), std::string::npos);
}

// A raw TCP connection to the listener, whose reads wait at most 10 s.
int Connect(int port) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return -1;
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

TEST(HttpTest, StopsPromptlyWithConnectionsHeldOpen) {
  const int port = FreeLoopbackPort();
  DaemonHarness daemon(WithHttp(port));
  ASSERT_TRUE(daemon.Start());
  // One connection that never says anything, one with half a request.
  int idle = Connect(port);
  int half = Connect(port);
  ASSERT_GE(idle, 0);
  ASSERT_GE(half, 0);
  const std::string partial = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  ASSERT_EQ(::send(half, partial.data(), partial.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(partial.size()));
  ASSERT_EQ(Fetch(Url(port, "/metrics")).status, 200);  // the listener is serving

  const auto start = Clock::now();
  EXPECT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
  EXPECT_LT(Clock::now() - start, 5s);
  // Both connections are closed by the daemon (end of stream or reset, never a hang).
  for (int fd : {idle, half}) {
    char byte;
    EXPECT_LE(::recv(fd, &byte, 1, 0), 0);
    ::close(fd);
  }
  EXPECT_FALSE(Accepts(port));
}

// A real Prometheus on a loopback port scrapes certinboxd every second; its HTTP API then
// answers x509_cert_not_after of the imported certificate with the certificate's notAfter.
TEST(HttpTest, PrometheusScrapesTheNotAfterOfAnImportedCertificate) {
  if (!fs::exists(kPrometheus)) GTEST_FAIL() << kPrometheus << " missing: scripts/install-deps.sh";
  const int port = FreeLoopbackPort();
  Fixture fixture;
  DaemonHarness daemon(WithHttp(port));
  ASSERT_TRUE(daemon.Start());
  fixture.Import(daemon);

  const fs::path dir = daemon.root() / "prometheus";
  fs::create_directories(dir / "data");
  WriteFile(dir / "prometheus.yml",
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: certinbox\n    static_configs:\n"
            "      - targets: ['127.0.0.1:" +
                std::to_string(port) + "']\n");
  const int prometheus_port = FreeLoopbackPort();
  ChildProcess prometheus({kPrometheus, "--config.file=" + (dir / "prometheus.yml").string(),
                           "--storage.tsdb.path=" + (dir / "data").string(),
                           "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
                          SpawnOptions{.stderr_file = (dir / "prometheus.log").string()});
  ASSERT_TRUE(prometheus.running());

  const std::string query = Url(
      prometheus_port, "/api/v1/query?query=" + UrlEscape("x509_cert_not_after{filename=\"web\","
                                                          "filepath=\"edge/web\"}"));
  json result;
  bool answered = WaitUntil(
      [&] {
        Reply reply = Fetch(query);
        if (reply.status != 200) return false;
        json body = json::parse(reply.body, nullptr, false);
        if (body.is_discarded() || body["status"] != "success") return false;
        result = body["data"]["result"];
        return result.is_array() && !result.empty();
      },
      60s, 250ms);
  ASSERT_TRUE(answered) << ReadFile(dir / "prometheus.log") << daemon.log();
  ASSERT_EQ(result.size(), 1u) << result.dump();
  EXPECT_EQ(result[0]["metric"]["job"], "certinbox");
  EXPECT_EQ(result[0]["metric"]["serial_number"], "1234567890123");
  EXPECT_EQ(std::stod(result[0]["value"][1].get<std::string>()),
            static_cast<double>(fixture.not_after));

  // The shipped dashboard and alert rules query series this daemon exports, in PromQL this
  // Prometheus accepts.
  const std::string exposition = Fetch(Url(port, "/metrics")).body;
  std::vector<std::string> expressions;
  json dashboard = json::parse(
      ReadFile(fs::path(CERTINBOX_SOURCE_DIR) / "etc/grafana/certinbox-dashboard.json"));
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel["targets"]) expressions.push_back(target["expr"]);
  }
  const std::string rules =
      ReadFile(fs::path(CERTINBOX_SOURCE_DIR) / "etc/prometheus/certinbox-alerts.yml");
  for (size_t at = rules.find("expr: "); at != std::string::npos;
       at = rules.find("expr: ", at + 1)) {
    expressions.push_back(rules.substr(at + 6, rules.find('\n', at) - at - 6));
  }
  ASSERT_GE(expressions.size(), 15u);
  const std::regex series("\\b(x509|certinbox)_[a-z_]+");
  for (const std::string& expr : expressions) {
    for (std::sregex_iterator it(expr.begin(), expr.end(), series), end; it != end; ++it) {
      EXPECT_NE(exposition.find("# TYPE " + it->str() + " "), std::string::npos)
          << it->str() << " (in " << expr << ") is not exported";
    }
    Reply reply = Fetch(Url(prometheus_port, "/api/v1/query?query=" + UrlEscape(expr)));
    EXPECT_EQ(reply.status, 200) << expr << ": " << reply.body;
    EXPECT_EQ(json::parse(reply.body, nullptr, false).value("status", ""), "success") << expr;
  }
  prometheus.Stop(SIGTERM);
}

}  // namespace
}  // namespace certinbox::testing
