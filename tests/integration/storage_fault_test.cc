// A full disk under the database: dropped files stay in the inbox (never failed/, never
// removed), `status` says why, the daemon keeps answering, and once there is room again every
// file is imported once. The state dir is a small tmpfs mounted for the test (we run as root);
// where mounting is not allowed, a file size limit (RLIMIT_FSIZE) on the daemon stands in for
// the full disk.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
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

// A tmpfs of `bytes` on `dir` for the life of this object.
class SmallFilesystem {
 public:
  // CERTINBOX_TEST_NO_MOUNT=1 tries the fallback where mounting would work.
  SmallFilesystem(const fs::path& dir, size_t bytes) : dir_(dir) {
    fs::create_directories(dir);
    std::string options = "size=" + std::to_string(bytes) + ",mode=0700";
    if (const char* no = std::getenv("CERTINBOX_TEST_NO_MOUNT"); no && std::string(no) == "1") {
      error_ = "CERTINBOX_TEST_NO_MOUNT=1";
    } else if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~SmallFilesystem() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string error_;
};

// Writes `file` until the filesystem has no room left; returns the bytes written.
size_t FillUp(const fs::path& file) {
  std::FILE* out = std::fopen(file.c_str(), "wb");
  if (out == nullptr) return 0;
  std::string block(4096, 'x');
  size_t written = 0;
  while (std::fwrite(block.data(), 1, block.size(), out) == block.size() && written < (1u << 30)) {
    written += block.size();
    if (std::fflush(out) != 0) break;
  }
  std::fclose(out);
  return written;
}

size_t FilesIn(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) n += entry.is_regular_file();
  return n;
}

// No room for the database to grow: the small filesystem filled up, or (without a mount) a file
// size limit on the daemon at its database's present size. Room() gives it back.
class NoRoom {
 public:
  NoRoom(DaemonHarness& daemon, const SmallFilesystem& small)
      : daemon_(daemon), mounted_(small.mounted()), filler_(daemon.state() / "filler") {
    if (mounted_) {
      EXPECT_GT(FillUp(filler_), 0u);
      return;
    }
    std::cout << "no tmpfs (" << small.error() << "): a file size limit on the daemon instead\n";
    // Only the soft limit: raising it again needs no privilege.
    rlimit limit{0, RLIM_INFINITY};
    for (const char* name : {"certinbox.db", "certinbox.db-wal"}) {
      std::error_code ec;
      auto size = fs::file_size(daemon.state() / name, ec);
      if (!ec) limit.rlim_cur = std::max<rlim_t>(limit.rlim_cur, size);
    }
    EXPECT_EQ(::prlimit(daemon.pid(), RLIMIT_FSIZE, &limit, nullptr), 0) << std::strerror(errno);
  }
  void Room() {
    if (mounted_) {
      fs::remove(filler_);
    } else {
      rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
      EXPECT_EQ(::prlimit(daemon_.pid(), RLIMIT_FSIZE, &unlimited, nullptr), 0);
    }
  }

 private:
  DaemonHarness& daemon_;
  bool mounted_;
  fs::path filler_;
};

// Waits for `status` to report a storage fault that has been retried at least once.
json WaitForFault(DaemonHarness& daemon) {
  json fault;
  bool seen = WaitUntil(
      [&] {
        fault = daemon.Status(milliseconds(5000)).value("storage_fault", json());
        return fault.is_object() && fault.value("retries", 0) >= 1;
      },
      seconds(30));
  EXPECT_TRUE(seen) << daemon.Status(milliseconds(5000)).dump() << "\n" << daemon.log();
  return fault;
}

TEST(StorageFaultTest, FullDiskKeepsFilesInTheInboxSaysWhyAndImportsThemOnceThereIsRoom) {
  constexpr int kFiles = 5;
  Issued first = Issue(LeafSpec("first.fault.test"));
  std::vector<Issued> leaves;
  for (int i = 0; i < kFiles; ++i)
    leaves.push_back(Issue(LeafSpec("f" + std::to_string(i) + ".fault.test")));

  DaemonHarness daemon({.settle_ms = 20});
  SmallFilesystem small(daemon.state(), 4 << 20);
  ASSERT_TRUE(daemon.Start());
  daemon.Drop("first.pem", first.CertPem() + first.KeyPem());
  daemon.WaitForEvents(HasEvents("cert.imported", 1));
  ASSERT_EQ(daemon.EventsOfType("cert.imported").size(), 1u) << daemon.log();

  NoRoom no_room(daemon, small);
  ASSERT_FALSE(::testing::Test::HasFailure());
  for (int i = 0; i < kFiles; ++i) {
    daemon.Drop("f" + std::to_string(i) + ".pem", leaves[i].CertPem() + leaves[i].KeyPem());
  }
  const json fault = WaitForFault(daemon);
  ASSERT_TRUE(fault.is_object());
  const std::set<std::string> full_codes = {"storage_full", "storage_io"};
  EXPECT_TRUE(full_codes.contains(fault.value("code", ""))) << fault.dump();
  EXPECT_FALSE(fault.value("message", "").empty());
  // Nothing left the inbox, nothing went to failed/, nothing was announced as imported.
  EXPECT_EQ(FilesIn(daemon.inbox()), static_cast<size_t>(kFiles));
  EXPECT_EQ(FilesIn(daemon.failed()), 0u);
  EXPECT_EQ(daemon.EventsOfType("cert.imported").size(), 1u);
  EXPECT_EQ(daemon.EventsOfType("import.rejected").size(), 0u);
  // The daemon keeps answering.
  EXPECT_EQ(daemon.LsJson()["entries"].size(), 1u);

  // Room again: every file is imported once, and the fault is over.
  no_room.Room();
  daemon.WaitForEvents(HasEvents("cert.imported", 1 + kFiles), seconds(60));
  EXPECT_EQ(daemon.EventsOfType("cert.imported").size(), static_cast<size_t>(1 + kFiles))
      << daemon.log();
  EXPECT_TRUE(WaitUntil([&] { return FilesIn(daemon.inbox()) == 0; }, seconds(10)));
  EXPECT_EQ(FilesIn(daemon.failed()), 0u);
  EXPECT_TRUE(daemon.Status(milliseconds(5000))["storage_fault"].is_null())
      << daemon.Status(milliseconds(5000)).dump();
  for (const auto& leaf : leaves) {
    EXPECT_EQ(CountByFingerprint(daemon.EventsOfType("cert.imported"), leaf.Fingerprint()), 1);
  }
  EXPECT_EQ(daemon.Stop(), 0) << daemon.log();
}

// Stopping while files wait for room: the daemon stops at once and cleanly, and the files are
// still in the inbox for the next start.
TEST(StorageFaultTest, SigtermWhileFilesWaitForRoomStopsCleanlyAndLeavesThem) {
  Issued leaf = Issue(LeafSpec("waiting.fault.test"));
  DaemonHarness daemon({.settle_ms = 20});
  SmallFilesystem small(daemon.state(), 4 << 20);
  ASSERT_TRUE(daemon.Start());
  NoRoom no_room(daemon, small);
  ASSERT_FALSE(::testing::Test::HasFailure());
  daemon.Drop("waiting.pem", leaf.CertPem() + leaf.KeyPem());
  ASSERT_TRUE(WaitForFault(daemon).is_object());
  const auto asked = steady_clock::now();
  EXPECT_EQ(daemon.Stop(SIGTERM), 0) << daemon.log();
  EXPECT_LT(steady_clock::now() - asked, seconds(5));
  EXPECT_EQ(FilesIn(daemon.inbox()), 1u);
  EXPECT_EQ(FilesIn(daemon.failed()), 0u);
}

}  // namespace
}  // namespace certinbox::testing
