// Inventory::HandOverCheckpoints and Checkpointer on a real SQLite file.
#include "storage/checkpointer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/storage/drop_fixture.h"

namespace certinbox::storage {
namespace {

using test::Drop;

class CheckpointerTest : public test::InventoryTest {
 protected:
  void ImportOne(int n) {
    Drop drop;
    drop.Cert(testing::Issue(test::Leaf("wal" + std::to_string(n) + ".test")), true);
    MustImport(drop.Request("wal" + std::to_string(n) + ".pem"));
  }
  // In SQLite's 4096-byte pages. Only a checkpoint writes to the database file.
  int DatabasePages() {
    std::error_code ec;
    auto bytes = std::filesystem::file_size(db_path(), ec);
    return ec ? 0 : static_cast<int>(bytes / 4096);
  }
};

// Handed over, the connection no longer checkpoints at 1000 pages: the listener sees the WAL
// grow past it and the database file stays as it was. Then one Checkpointer run copies every
// frame, and the next commit starts the WAL over.
TEST_F(CheckpointerTest, HandedOverTheWalGrowsUntilACheckpointerCopiesIt) {
  std::vector<int> reported;
  inventory_->HandOverCheckpoints([&](int pages) { reported.push_back(pages); });
  const int database_before = DatabasePages();
  int n = 0;
  while ((reported.empty() || reported.back() < 2000) && n < 3000) ImportOne(n++);
  ASSERT_FALSE(reported.empty());
  ASSERT_GE(reported.back(), 2000) << n << " imports";
  for (size_t i = 1; i < reported.size(); ++i) {
    EXPECT_GT(reported[i], reported[i - 1]) << "the WAL started over after commit " << i;
  }
  EXPECT_EQ(DatabasePages(), database_before) << "the committing connection checkpointed";

  auto checkpointer = Checkpointer::Open(db_path());
  ASSERT_TRUE(checkpointer) << checkpointer.error().message;
  auto progress = (*checkpointer)->Run();
  ASSERT_TRUE(progress) << progress.error().message;
  EXPECT_EQ(progress->wal_frames, reported.back());
  EXPECT_EQ(progress->copied_frames, progress->wal_frames);
  EXPECT_GT(DatabasePages(), database_before);

  ImportOne(n++);
  EXPECT_LT(reported.back(), 100) << "the WAL did not start over";
  EXPECT_EQ(MustList().size(), static_cast<size_t>(n));
}

// A caller whose checkpoints never come: the connection checkpoints by itself once a commit
// leaves the WAL at kInlineCheckpointPages, so the WAL stays bounded and then starts over.
TEST_F(CheckpointerTest, TheWalStaysBoundedWhenNoCheckpointComes) {
  std::vector<int> reported;
  inventory_->HandOverCheckpoints([&](int pages) { reported.push_back(pages); });
  const int database_before = DatabasePages();
  int n = 0;
  bool started_over = false;
  while (!started_over && n < 5000) {
    ImportOne(n++);
    started_over = reported.size() >= 2 && reported.back() < reported[reported.size() - 2];
  }
  ASSERT_TRUE(started_over) << n << " imports, WAL at " << reported.back() << " pages";
  EXPECT_LT(*std::max_element(reported.begin(), reported.end()), Inventory::kInlineCheckpointPages);
  EXPECT_GT(DatabasePages(), database_before);
  EXPECT_EQ(MustList().size(), static_cast<size_t>(n));
}

// Given back (an empty function), the checkpoints are SQLite's own again, at 1000 pages.
TEST_F(CheckpointerTest, GivenBackSqliteCheckpointsByItself) {
  inventory_->HandOverCheckpoints([](int) {});
  inventory_->HandOverCheckpoints(nullptr);
  const int database_before = DatabasePages();
  int n = 0;
  while (DatabasePages() == database_before && n < 3000) ImportOne(n++);
  EXPECT_GT(DatabasePages(), database_before) << n << " imports";
  std::error_code ec;
  EXPECT_LT(std::filesystem::file_size(db_path().string() + "-wal", ec), 2000u * 4096);
}

}  // namespace
}  // namespace certinbox::storage
