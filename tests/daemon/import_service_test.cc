// The ImportService with a real inbox watcher on a temporary folder, a real inventory, a real
// Publisher read by a SUB socket, and a ManualClock: a dropped file is imported, stored and
// published at the clock's time, and its dates are judged against that time.
#include "daemon/import_service.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "base/time.h"
#include "tests/daemon/bus_fixture.h"
#include "tests/testing/files.h"

namespace certinbox::daemon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::kDay;
using test::kNow;

class ImportServiceTest : public test::BusTest {
 protected:
  void SetUp() override {
    BusTest::SetUp();
    if (HasFatalFailure()) return;
    service_ = std::make_unique<ImportService>(&loop_, *inventory_, *publisher_, clock_, false);
    auto started = service_->Start();
    ASSERT_TRUE(started) << started.error().message;
    inbox_.config = InboxConfig{.name = "main", .path = dir_ / "inbox", .settle_ms = 50};
    auto watcher = watchers::InboxWatcher::Start(
        &loop_, {.name = "main", .dir = inbox_.config.path, .settle_ms = inbox_.config.settle_ms},
        [this](const watchers::ReadyFile& file) { service_->Submit(inbox_, file); });
    ASSERT_TRUE(watcher) << watcher.error().message;
    inbox_.watcher = std::move(*watcher);
  }

  void TearDown() override {
    if (service_) {
      bool drained = false;
      service_->Drain([&] { drained = true; });
      EXPECT_TRUE(RunUntil([&] { return drained; }));
    }
    service_.reset();
    inbox_.watcher.reset();
    BusTest::TearDown();
  }

  // Drops `bytes` into the inbox as NAME (written beside it, then renamed in).
  void DropFile(const std::string& name, const std::string& bytes) {
    testing::WriteFile(dir_ / ("." + name), bytes);
    fs::rename(dir_ / ("." + name), inbox_.config.path / name);
  }

  // Turns the loop until an event of `type` is published; returns it (null at the deadline).
  json WaitForEvent(const std::string& type) {
    json found;
    RunUntil([&] {
      for (auto& event : Received()) {
        if (found.is_null() && event["type"] == type) found = std::move(event);
      }
      return !found.is_null();
    });
    return found;
  }

  Inbox inbox_;
  std::unique_ptr<ImportService> service_;
};

TEST_F(ImportServiceTest, ADroppedFileIsImportedAndPublishedAtTheClocksTime) {
  testing::Issued leaf = testing::Issue(storage::test::Leaf("dropped.import.test", 365));
  clock_.Set(kNow + 3600);  // not the wall clock's time, nor the time the file was written
  DropFile("dropped.pem", leaf.CertPem() + leaf.KeyPem());
  json imported = WaitForEvent("cert.imported");
  ASSERT_FALSE(imported.is_null());
  EXPECT_EQ(imported["time"], base::FormatRfc3339(kNow + 3600));
  EXPECT_EQ(imported.dump().find(leaf.Fingerprint()) != std::string::npos, true) << imported;
  EXPECT_EQ(publisher_->last_published_seq(), imported["seq"]);

  auto shown = inventory_->Show("dropped.import.test", clock_.Now());
  ASSERT_TRUE(shown) << shown.error().message;
  EXPECT_EQ((*shown)["created_at"], base::FormatRfc3339(kNow + 3600));
  EXPECT_EQ((*shown)["status"], "valid");
  // Stored, published, then removed from the inbox.
  EXPECT_TRUE(RunUntil([&] { return !fs::exists(inbox_.config.path / "dropped.pem"); }));
  EXPECT_EQ(service_->in_flight(), 0u);
}

// A certificate valid by the wall clock but expired by the daemon's clock is rejected as expired
// (accept_expired is off): the service judges dates by its clock, not the system's.
TEST_F(ImportServiceTest, DatesAreJudgedByTheClock) {
  const int64_t wall = testing::NowUnix();
  testing::CertSpec spec = testing::LeafSpec("late.import.test");
  spec.not_before = wall - kDay;
  spec.not_after = wall + 30 * kDay;
  testing::Issued leaf = testing::Issue(spec);
  clock_.Set(wall + 60 * kDay);
  DropFile("late.pem", leaf.CertPem() + leaf.KeyPem());
  json rejected = WaitForEvent("import.rejected");
  ASSERT_FALSE(rejected.is_null());
  EXPECT_EQ(rejected["reason"], "expired") << rejected;
  EXPECT_EQ(rejected["time"], base::FormatRfc3339(wall + 60 * kDay));
  EXPECT_TRUE(RunUntil([&] { return fs::exists(inbox_.config.path / "failed" / "late.pem"); }));
}

}  // namespace
}  // namespace certinbox::daemon
