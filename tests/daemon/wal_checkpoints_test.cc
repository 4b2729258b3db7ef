// WalCheckpoints with a real inventory (SQLite file) and a real libuv loop: the committing
// connection no longer checkpoints by itself, and the pool's checkpoint copies the whole WAL.
#include "daemon/wal_checkpoints.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/storage/drop_fixture.h"

namespace certinbox::daemon {
namespace {

using storage::test::Drop;

class WalCheckpointsTest : public storage::test::InventoryTest {
 protected:
  void SetUp() override {
    InventoryTest::SetUp();
    ASSERT_EQ(uv_loop_init(&loop_), 0);
  }
  void TearDown() override {
    checkpoints_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // a checkpoint still queued finishes
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // Imports one new leaf (with its key) as its own transaction.
  void ImportOne(int n) {
    Drop drop;
    drop.Cert(Issue(storage::test::Leaf("wal" + std::to_string(n) + ".test")), true);
    MustImport(drop.Request("wal" + std::to_string(n) + ".pem"));
  }

  // Sizes in SQLite's 4096-byte pages. Only a checkpoint writes to the database file; the WAL
  // file never shrinks, a checkpoint lets the next commit write it over from its beginning.
  int Pages(const std::string& suffix) {
    std::error_code ec;
    auto bytes = std::filesystem::file_size(db_path().string() + suffix, ec);
    return ec ? 0 : static_cast<int>(bytes / 4096);
  }
  int WalPages() { return Pages("-wal"); }
  int DatabasePages() { return Pages(""); }

  uv_loop_t loop_{};
  std::unique_ptr<WalCheckpoints> checkpoints_;
};

// The first commit that leaves the WAL at kPages queues a checkpoint on the pool, which
// copies the WAL as it was into the database file; the loop then counts it. (That the
// committing connection itself never checkpoints, and that a complete checkpoint lets the WAL
// start over, is shown in tests/storage/checkpointer_test.cc.)
TEST_F(WalCheckpointsTest, ACheckpointRunsOnThePoolOnceTheWalIsFull) {
  auto started = WalCheckpoints::Start(&loop_, *inventory_, db_path());
  ASSERT_TRUE(started) << started.error().message;
  checkpoints_ = std::move(*started);
  const int database_before = DatabasePages();
  int n = 0;
  // The file holds a 24-byte header per 4096-byte frame: 50 pages more are past kPages frames.
  while (WalPages() < WalCheckpoints::kPages + 50 && n < 3000) ImportOne(n++);
  ASSERT_GE(WalPages(), WalCheckpoints::kPages + 50) << n << " imports";

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (checkpoints_->completed() + checkpoints_->incomplete() == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    uv_run(&loop_, UV_RUN_ONCE);
  }
  EXPECT_EQ(checkpoints_->completed(), 1u);
  EXPECT_EQ(checkpoints_->incomplete(), 0u);
  EXPECT_GT(DatabasePages(), database_before);
  EXPECT_EQ(MustList().size(), static_cast<size_t>(n));
}

}  // namespace
}  // namespace certinbox::daemon
