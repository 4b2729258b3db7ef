// StorageFaults with a real inbox watcher, a real loop and a ManualClock: a held file's fault
// is reported since the clock's time, and the file goes back to its inbox after the pause.
#include "daemon/storage_faults.h"

#include <gtest/gtest.h>
#include <uv.h>

#include "base/error_codes.h"
#include "daemon/import_service.h"
#include "tests/testing/manual_clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace certinbox::daemon {
namespace {

constexpr base::UnixTime kT = 1795424400;

TEST(StorageFaultsTest, AFaultIsReportedSinceTheClocksTimeAndItsFilesGoBack) {
  testing::TempDir dir;
  testing::ManualClock clock(kT);
  uv_loop_t loop{};
  ASSERT_EQ(uv_loop_init(&loop), 0);
  {
    Inbox inbox;
    inbox.config = InboxConfig{.name = "main", .path = dir / "inbox"};
    auto watcher = watchers::InboxWatcher::Start(&loop, {.name = "main", .dir = inbox.config.path},
                                                 [](const watchers::ReadyFile&) {});
    ASSERT_TRUE(watcher) << watcher.error().message;
    inbox.watcher = std::move(*watcher);
    StorageFaults faults(&loop, clock);
    EXPECT_TRUE(faults.StatusJson().is_null());

    inbox.jobs = 2;
    faults.Hold({base::code::kStorageFull, "the disk is full"}, inbox, "a.pem");
    clock.Advance(5);
    faults.Hold({base::code::kStorageFull, "the disk is still full"}, inbox, "b.pem");
    nlohmann::json status = faults.StatusJson();
    EXPECT_EQ(status["code"], "storage_full");
    EXPECT_EQ(status["since"], kT) << "since the first failure, not the latest";
    EXPECT_EQ(status["files_waiting"], 2);
    EXPECT_EQ(faults.held(), 2u);

    // The pause (1 s, timed by the loop) ends: the files go back to the watcher.
    EXPECT_TRUE(testing::WaitUntil(
        [&] {
          uv_run(&loop, UV_RUN_NOWAIT);
          return faults.held() == 0;
        },
        std::chrono::seconds(10), std::chrono::milliseconds(5)));
    EXPECT_EQ(inbox.jobs, 0u);
    EXPECT_EQ(faults.StatusJson()["retries"], 1);
    faults.Cleared();
    EXPECT_TRUE(faults.StatusJson().is_null());
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // pending closes
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace certinbox::daemon
