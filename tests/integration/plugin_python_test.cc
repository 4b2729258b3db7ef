// The protocol's example for other languages, docs/examples/plugin.py, run by the real daemon
// with Debian's python3 and python3-zmq: it receives the events of its prefix in seq order,
// once each, and acknowledges them (its cursor reaches the last seq).
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "tests/testing/daemon_harness.h"
#include "tests/testing/events.h"
#include "tests/testing/test_ca.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr const char* kPython = "/usr/bin/python3";

std::vector<json> Lines(const fs::path& file) {
  std::vector<json> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line, nullptr, false));
  return out;
}

TEST(PluginPythonTest, ExampleReceivesAndAcknowledgesEvents) {
  // scripts/install-deps.sh installs python3-zmq: without it this must-show fails, not skips.
  ASSERT_TRUE(fs::exists(kPython) &&
              RunCommand({kPython, "-c", "import zmq"}, seconds(30)).exit_code == 0)
      << kPython << " with python3-zmq is needed (scripts/install-deps.sh installs it)";
  TempDir scratch("cbx-py-");
  const fs::path out = scratch / "out";
  HarnessOptions options;
  options.extra_toml = std::string("[[plugin]]\nname = \"py\"\ncommand = \"") + kPython +
                       "\"\nargs = [\"" + CERTINBOX_SOURCE_DIR + "/docs/examples/plugin.py\"]\n" +
                       "events = [\"cert.\"]\n[plugin.options]\nout = \"" + out.string() + "\"\n";
  DaemonHarness daemon(options);
  ASSERT_TRUE(daemon.Start());
  ASSERT_TRUE(WaitUntil([&] { return daemon.CursorOf("plugin:py") >= 0; }, seconds(30)));
  const int64_t start = daemon.CursorOf("plugin:py");

  Issued leaf = Issue(LeafSpec("py.example.test"));
  daemon.Drop("py.pem", leaf.CertPem() + leaf.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported"));
  // An event of another prefix the plugin does not want, then certificate events.
  daemon.Drop("broken.pem", "not a certificate");
  daemon.WaitForEvents(HasEvents("import.rejected"));
  for (int i = 0; i < 20; ++i) {
    auto changed =
        daemon.control().Request("meta", {{"entry", "py.example.test"}, {"set", {{"n", i}}}});
    ASSERT_TRUE(changed.has_value()) << changed.error().message;
  }
  auto all = sdk::EventsSince(daemon.control(), start);
  ASSERT_TRUE(all.has_value());
  std::vector<int64_t> wanted;
  int64_t last = start;
  for (const auto& event : *all) {
    last = std::max(last, event.value("seq", int64_t{0}));
    if (event.value("type", "").starts_with("cert.")) wanted.push_back(event["seq"]);
  }
  ASSERT_EQ(wanted.size(), 21u);

  ASSERT_TRUE(WaitUntil([&] { return daemon.CursorOf("plugin:py") >= last; }, seconds(60)))
      << "cursor at " << daemon.CursorOf("plugin:py") << " of " << last << "\n"
      << daemon.log();
  std::vector<int64_t> got;
  for (const auto& line : Lines(out)) {
    ASSERT_TRUE(line.is_object());
    EXPECT_TRUE(line.value("type", "").starts_with("cert.")) << line.dump();
    got.push_back(line.value("seq", int64_t{0}));
  }
  EXPECT_EQ(got, wanted);  // each once, in seq order
}

}  // namespace
}  // namespace certinbox::testing
