// InboxWatcher on a real libuv loop and a temporary folder. Every wait is bounded: the loop runs
// one iteration at a time (a 5 ms guard timer keeps UV_RUN_ONCE from blocking) until a condition
// holds or a deadline passes. Fixed-length runs are only used to check that nothing happens.
#include "watchers/inbox_watcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "tests/testing/files.h"
#include "tests/testing/scale.h"
#include "tests/testing/temp_dir.h"

namespace certinbox::watchers {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using testing::ReadFile;
using testing::WriteFile;

struct Seen {
  ReadyFile file;
  Clock::time_point at;
};

void AppendFile(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << content;
}

// Sets a file's mtime (and atime) `age` before now; a negative age is in the future.
void SetMtimeAgo(const fs::path& path, std::chrono::nanoseconds age) {
  timespec now;
  ASSERT_EQ(clock_gettime(CLOCK_REALTIME, &now), 0);
  const int64_t ns = static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec - age.count();
  const timespec then{static_cast<time_t>(ns / 1'000'000'000),
                      static_cast<long>(ns % 1'000'000'000)};
  const timespec times[2] = {then, then};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

mode_t ModeOf(const fs::path& path) {
  struct stat st;
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

bool Exists(const fs::path& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::set<std::string> Entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

// "YYYY-MM-DDTHH:MM:SSZ"
bool IsRfc3339Utc(const std::string& time) {
  const std::string shape = "dddd-dd-ddTdd:dd:ddZ";
  if (time.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(time[i]))
                        : time[i] != shape[i]) {
      return false;
    }
  }
  return true;
}

class InboxWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_umask_ = umask(022);
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    dir_ = root_ / "inbox";
    uv_timer_init(&loop_, &guard_);
  }

  void TearDown() override {
    watcher_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&guard_), nullptr);
    for (int i = 0; i < 100 && uv_loop_alive(&loop_); ++i) uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was not closed";
    umask(old_umask_);
  }

  InboxOptions Options(uint64_t settle_ms = 100) {
    InboxOptions options;
    options.name = "test";
    options.dir = dir_;
    options.settle_ms = settle_ms;
    options.on_warning = [this](std::string warning) { warnings_.push_back(std::move(warning)); };
    return options;
  }

  void Start(InboxOptions options) {
    auto watcher = InboxWatcher::Start(&loop_, std::move(options), [this](const ReadyFile& file) {
      seen_.push_back({file, Clock::now()});
      if (on_ready_) on_ready_(file);
    });
    ASSERT_TRUE(watcher) << watcher.error().message;
    watcher_ = std::move(*watcher);
  }

  // Runs the loop until `done` or `timeout`; returns whether `done` held.
  bool RunUntil(const std::function<bool()>& done, Clock::duration timeout = 10s) {
    const Clock::time_point deadline = Clock::now() + timeout;
    uv_timer_start(
        &guard_, [](uv_timer_t*) {}, 5, 5);
    bool ok = done();
    while (!ok && Clock::now() < deadline) {
      uv_run(&loop_, UV_RUN_ONCE);
      ok = done();
    }
    uv_timer_stop(&guard_);
    return ok;
  }

  // Runs the loop for `duration`, to check that something does not happen.
  void RunFor(Clock::duration duration) {
    RunUntil([] { return false; }, duration);
  }

  size_t CountSeen(const std::string& name) const {
    size_t count = 0;
    for (const Seen& s : seen_) count += s.file.name == name;
    return count;
  }

  mode_t old_umask_ = 0;
  uv_loop_t loop_;
  uv_timer_t guard_;
  testing::TempDir root_{"certinbox-inbox-"};
  fs::path dir_;
  std::unique_ptr<InboxWatcher> watcher_;
  std::vector<Seen> seen_;
  std::vector<std::string> warnings_;
  std::function<void(const ReadyFile&)> on_ready_;
};

TEST_F(InboxWatcherTest, CreatesFoldersWithMode0750) {
  InboxOptions options = Options();
  options.dir = root_ / "made";
  options.archive = true;
  Start(options);
  for (const char* sub : {"", "failed", "processed"}) {
    mode_t mode = ModeOf(root_ / "made" / sub);
    EXPECT_TRUE(S_ISDIR(mode)) << sub;
    EXPECT_EQ(mode & 07777, 0750u) << sub;
  }
}

TEST_F(InboxWatcherTest, AMissingParentFolderIsNotMade) {
  InboxOptions options = Options();
  options.dir = root_ / "typo" / "inbox";
  auto watcher = InboxWatcher::Start(&loop_, std::move(options), [](const ReadyFile&) {});
  ASSERT_FALSE(watcher);
  EXPECT_NE(watcher.error().message.find("parent folder " + (root_ / "typo").string()),
            std::string::npos)
      << watcher.error().message;
  EXPECT_FALSE(fs::exists(root_ / "typo"));
}

TEST_F(InboxWatcherTest, NoProcessedFolderWithoutArchive) {
  Start(Options());
  EXPECT_TRUE(fs::is_directory(dir_ / "failed"));
  EXPECT_FALSE(Exists(dir_ / "processed"));
}

TEST_F(InboxWatcherTest, StartFailsWhenTheFolderCannotBeMade) {
  WriteFile(root_ / "a-file", "x");
  InboxOptions options = Options();
  options.dir = root_ / "a-file" / "inbox";
  auto watcher = InboxWatcher::Start(&loop_, options, [](const ReadyFile&) {});
  ASSERT_FALSE(watcher);
  EXPECT_EQ(watcher.error().code, "inbox_not_watched");
  EXPECT_FALSE(watcher.error().message.empty());
}

TEST_F(InboxWatcherTest, FilePresentAtStartIsHandedOver) {
  fs::create_directories(dir_);
  WriteFile(dir_ / "web.pem", "0123456789");
  Start(Options());
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_EQ(seen_[0].file.name, "web.pem");
  EXPECT_EQ(seen_[0].file.path, dir_ / "web.pem");
  EXPECT_EQ(seen_[0].file.size, 10u);
  EXPECT_EQ(seen_[0].file.problem, FileProblem::kNone);
  EXPECT_EQ(watcher_->Backlog(), 1u);
  RunFor(300ms);
  EXPECT_EQ(seen_.size(), 1u) << "handed over twice";
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(InboxWatcherTest, DroppedFileIsHandedOverOnceAfterSettling) {
  Start(Options(/*settle_ms=*/200));
  RunFor(20ms);
  WriteFile(dir_ / "late.pem", "data");
  const Clock::time_point written = Clock::now();
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_EQ(seen_[0].file.name, "late.pem");
  EXPECT_GE(seen_[0].at - written, 200ms);
  RunFor(500ms);
  EXPECT_EQ(seen_.size(), 1u);
}

// settle_ms is long in these tests, so "at once" and "after settling" cannot be confused.
TEST_F(InboxWatcherTest, OldFileRenamedInIsHandedOverWithoutWaiting) {
  Start(Options(/*settle_ms=*/5000));
  WriteFile(root_ / "web.pem", "data");
  SetMtimeAgo(root_ / "web.pem", 10s);
  RunFor(20ms);
  const Clock::time_point dropped = Clock::now();
  fs::rename(root_ / "web.pem", dir_ / "web.pem");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }, 2s)) << "waited for settle_ms";
  EXPECT_LT(seen_[0].at - dropped, 2s);
  EXPECT_EQ(seen_[0].file.name, "web.pem");
  EXPECT_EQ(seen_[0].file.size, 4u);
  RunFor(300ms);
  EXPECT_EQ(seen_.size(), 1u) << "handed over twice";
}

// on_settling: once per file that has to wait, with the identity it is later handed over with
// when unchanged; never for a file taken at once, an empty file or one over the limit.
TEST_F(InboxWatcherTest, FileThatWaitsIsAnnouncedOnceWhileItSettles) {
  std::vector<Seen> settling;
  InboxOptions options = Options(/*settle_ms=*/400);
  options.max_file_bytes = 10;
  options.on_settling = [&](const ReadyFile& file) { settling.push_back({file, Clock::now()}); };
  Start(std::move(options));
  WriteFile(root_ / "old.pem", "data");
  SetMtimeAgo(root_ / "old.pem", 10s);
  fs::rename(root_ / "old.pem", dir_ / "old.pem");
  WriteFile(dir_ / "empty.pem", "");
  WriteFile(dir_ / "big.pem", "more than ten bytes");
  WriteFile(dir_ / "new.pem", "data");
  const Clock::time_point written = Clock::now();
  ASSERT_TRUE(RunUntil([&] { return !settling.empty(); }, 2s));
  EXPECT_LT(settling[0].at - written, 300ms) << "announced only once settled";
  RunFor(20ms);                       // a later mtime tick
  AppendFile(dir_ / "new.pem", "2");  // changed while it settles: not announced again

  ASSERT_TRUE(RunUntil([&] { return CountSeen("new.pem") == 1; }));
  RunFor(100ms);
  ASSERT_EQ(settling.size(), 1u);
  const ReadyFile& early = settling[0].file;
  EXPECT_EQ(early.name, "new.pem");
  EXPECT_EQ(early.path, dir_ / "new.pem");
  EXPECT_EQ(early.size, 4u);
  EXPECT_EQ(early.problem, FileProblem::kNone);
  const ReadyFile& settled = std::find_if(seen_.begin(), seen_.end(), [](const Seen& s) {
                               return s.file.name == "new.pem";
                             })->file;
  struct stat st;
  ASSERT_EQ(lstat((dir_ / "new.pem").c_str(), &st), 0);
  EXPECT_EQ(settled.size, 5u);
  EXPECT_EQ(settled.ino, static_cast<uint64_t>(st.st_ino));
  EXPECT_EQ(settled.dev, static_cast<uint64_t>(st.st_dev));
  EXPECT_EQ(settled.mtime_ns,
            static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);
  EXPECT_EQ(early.ino, settled.ino);
  EXPECT_NE(early.mtime_ns, settled.mtime_ns);
  EXPECT_EQ(CountSeen("old.pem"), 1u);
}

TEST_F(InboxWatcherTest, OldFilePresentAtStartIsHandedOverWithoutWaiting) {
  fs::create_directories(dir_);
  WriteFile(dir_ / "web.pem", "data");
  SetMtimeAgo(dir_ / "web.pem", 10s);
  Start(Options(/*settle_ms=*/5000));
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }, 2s)) << "waited for settle_ms";
  EXPECT_EQ(seen_[0].file.name, "web.pem");
}

// A sidecar whose file was taken before it arrived would stay in the inbox unseen: a scan
// says so, once. One that may still be waiting for its file (recent), or that a file here
// uses, is not said.
TEST_F(InboxWatcherTest, ALoneOldSidecarIsSaidOnce) {
  fs::create_directories(dir_);
  for (const char* name : {"late.toml", "fresh.toml", "kept.toml", "kept.pem"}) {
    WriteFile(dir_ / name, "name = \"x\"\n");
  }
  SetMtimeAgo(dir_ / "late.toml", 120s);
  SetMtimeAgo(dir_ / "kept.toml", 120s);
  InboxOptions options = Options();
  options.rescan_ms = 20;
  Start(options);
  RunUntil([] { return false; }, 200ms);  // several scans
  auto said = [&](const std::string& name) {
    return std::count_if(warnings_.begin(), warnings_.end(), [&](const std::string& w) {
      return w.find("sidecar " + name + " has no file to describe") != std::string::npos;
    });
  };
  EXPECT_EQ(said("late.toml"), 1);
  EXPECT_EQ(said("fresh.toml"), 0);
  EXPECT_EQ(said("kept.toml"), 0);
}

TEST_F(InboxWatcherTest, FreshFileRenamedInStillWaitsForSettling) {
  Start(Options(/*settle_ms=*/400));
  WriteFile(root_ / "web.pem", "data");  // mtime: now
  const Clock::time_point dropped = Clock::now();
  fs::rename(root_ / "web.pem", dir_ / "web.pem");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_GE(seen_[0].at - dropped, 400ms);
}

TEST_F(InboxWatcherTest, FileWithAnMtimeInTheFutureWaitsForSettling) {
  Start(Options(/*settle_ms=*/400));
  WriteFile(root_ / "web.pem", "data");
  SetMtimeAgo(root_ / "web.pem", -1h);
  const Clock::time_point dropped = Clock::now();
  fs::rename(root_ / "web.pem", dir_ / "web.pem");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_GE(seen_[0].at - dropped, 400ms);
}

TEST_F(InboxWatcherTest, FileWithAnMtimeYoungerThanSettleMsWaitsForSettling) {
  Start(Options(/*settle_ms=*/2000));
  WriteFile(root_ / "web.pem", "data");
  SetMtimeAgo(root_ / "web.pem", 1500ms);  // old, but not settle_ms old
  const Clock::time_point dropped = Clock::now();
  fs::rename(root_ / "web.pem", dir_ / "web.pem");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }, 10s));
  EXPECT_GE(seen_[0].at - dropped, 2000ms);
}

TEST_F(InboxWatcherTest, EmptyFileIsNeverTakenByItsMtime) {
  // More often just created (and about to be written) than finished.
  Start(Options(/*settle_ms=*/400));
  WriteFile(root_ / "web.pem", "");
  SetMtimeAgo(root_ / "web.pem", 10s);
  const Clock::time_point dropped = Clock::now();
  fs::rename(root_ / "web.pem", dir_ / "web.pem");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_GE(seen_[0].at - dropped, 400ms);
}

TEST_F(InboxWatcherTest, WholeSecondMtimeMayBeFromACoarseFilesystem) {
  // A filesystem that keeps whole seconds stores 10.0 for a write at 10.9: such an mtime must
  // be 2 s older than settle_ms before it is trusted.
  Start(Options(/*settle_ms=*/400));
  const time_t second_ago = time(nullptr) - 1;
  WriteFile(root_ / "recent.pem", "data");
  WriteFile(root_ / "old.pem", "data");
  const timespec recent[2] = {{second_ago, 0}, {second_ago, 0}};
  const timespec old[2] = {{second_ago - 10, 0}, {second_ago - 10, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (root_ / "recent.pem").c_str(), recent, 0), 0);
  ASSERT_EQ(utimensat(AT_FDCWD, (root_ / "old.pem").c_str(), old, 0), 0);
  const Clock::time_point dropped = Clock::now();
  fs::rename(root_ / "recent.pem", dir_ / "recent.pem");
  fs::rename(root_ / "old.pem", dir_ / "old.pem");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2; }));
  EXPECT_EQ(seen_[0].file.name, "old.pem");
  EXPECT_LT(seen_[0].at - dropped, 300ms);
  EXPECT_EQ(seen_[1].file.name, "recent.pem");
  EXPECT_GE(seen_[1].at - dropped, 400ms);
}

TEST_F(InboxWatcherTest, ReleasedOldFileWaitsForSettling) {
  Start(Options(/*settle_ms=*/400));
  WriteFile(root_ / "web.pem", "data");
  SetMtimeAgo(root_ / "web.pem", 10s);
  fs::rename(root_ / "web.pem", dir_ / "web.pem");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }, 2s));
  watcher_->Release("web.pem");  // e.g. a failed commit: no retry without a pause
  const Clock::time_point released = Clock::now();
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2; }));
  EXPECT_GE(seen_[1].at - released, 400ms);
}

TEST_F(InboxWatcherTest, OldFileWrittenAgainWaitsForSettling) {
  // Renamed in with an old mtime, then appended to: what counts is the mtime the watcher sees.
  Start(Options(/*settle_ms=*/400));
  WriteFile(dir_ / ".web.pem", "data");
  SetMtimeAgo(dir_ / ".web.pem", 10s);
  fs::rename(dir_ / ".web.pem", dir_ / "web.pem");
  AppendFile(dir_ / "web.pem", "more");
  const Clock::time_point written = Clock::now();
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_GE(seen_[0].at - written, 400ms);
  EXPECT_EQ(seen_[0].file.size, 8u);
}

TEST_F(InboxWatcherTest, GrowingFileIsNotHandedOverWhileItChanges) {
  Start(Options(/*settle_ms=*/150));
  Clock::time_point last_write;
  for (int i = 0; i < 12; ++i) {  // about 600 ms of appends, 50 ms apart
    AppendFile(dir_ / "big.pem", std::string(100, 'x'));
    last_write = Clock::now();
    RunFor(50ms);
    ASSERT_TRUE(seen_.empty()) << "handed over while still being written, append " << i;
  }
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_GE(seen_[0].at - last_write, 150ms);
  EXPECT_EQ(seen_[0].file.size, 1200u);
}

TEST_F(InboxWatcherTest, ChangesWithoutEventsAreCaughtAtTheDeadline) {
  // Writes through a hard link outside the inbox raise no event on the inbox (as with a
  // network filesystem): the re-check at the settle deadline must still see them.
  Start(Options(/*settle_ms=*/150));
  WriteFile(dir_ / "quiet.pem", "x");
  ASSERT_TRUE(RunUntil([&] { return watcher_->Backlog() == 1; }));
  fs::create_hard_link(dir_ / "quiet.pem", root_ / "alias");
  Clock::time_point last_write;
  for (int i = 0; i < 12; ++i) {
    AppendFile(root_ / "alias", std::string(10, 'y'));
    last_write = Clock::now();
    RunFor(50ms);
    ASSERT_TRUE(seen_.empty()) << "handed over while still being written, append " << i;
  }
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_GE(seen_[0].at - last_write, 150ms);
  EXPECT_EQ(seen_[0].file.size, 121u);
}

TEST_F(InboxWatcherTest, InFlightFileIsNotOfferedAgainByEventsOrRescans) {
  InboxOptions options = Options();
  options.rescan_ms = 30;
  Start(options);
  WriteFile(dir_ / "web.pem", "x");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  AppendFile(dir_ / "web.pem", "more");
  ASSERT_EQ(chmod((dir_ / "web.pem").c_str(), 0640), 0);
  RunFor(400ms);
  EXPECT_EQ(seen_.size(), 1u);
  EXPECT_EQ(watcher_->Backlog(), 1u);
}

TEST_F(InboxWatcherTest, TemporaryNameThenRenameIsHandedOverUnderTheNewName) {
  Start(Options());
  WriteFile(dir_ / "web.pem.tmp", "data");
  RunFor(300ms);
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(watcher_->Backlog(), 0u);
  fs::rename(dir_ / "web.pem.tmp", dir_ / "web.pem");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_EQ(seen_[0].file.name, "web.pem");
  RunFor(300ms);
  EXPECT_EQ(seen_.size(), 1u);
}

TEST_F(InboxWatcherTest, IgnoredNamesAndFoldersAreLeftAlone) {
  const std::vector<std::string> ignored = {".hidden",  "web.part",    "web.swp", "web.pem~",
                                            "web.toml", "web.pem.tmp", ".web.pem"};
  fs::create_directories(dir_);
  WriteFile(dir_ / ".early", "x");  // present at start, too
  Start(Options());
  for (const std::string& name : ignored) WriteFile(dir_ / name, "x");
  fs::create_directory(dir_ / "subdir");
  WriteFile(dir_ / "subdir" / "inner.pem", "x");
  RunFor(400ms);
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(watcher_->Backlog(), 0u);
  for (const std::string& name : ignored) EXPECT_EQ(ReadFile(dir_ / name), "x") << name;
  EXPECT_TRUE(Exists(dir_ / "subdir" / "inner.pem"));
}

TEST_F(InboxWatcherTest, SymlinkIsReportedAndNeverFollowed) {
  WriteFile(root_ / "target.pem", "secret");
  Start(Options());
  fs::create_symlink(root_ / "target.pem", dir_ / "link.pem");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_EQ(seen_[0].file.name, "link.pem");
  EXPECT_EQ(seen_[0].file.problem, FileProblem::kSymlink);
  EXPECT_EQ(ReasonCode(seen_[0].file.problem), "symlink");
  EXPECT_TRUE(watcher_->Fail("link.pem", "symlink", "symlinks are not followed"));
  EXPECT_TRUE(S_ISLNK(ModeOf(dir_ / "failed" / "link.pem")));  // the link itself moved
  EXPECT_EQ(ReadFile(root_ / "target.pem"), "secret");
  EXPECT_TRUE(S_ISREG(ModeOf(root_ / "target.pem")));
}

TEST_F(InboxWatcherTest, FifoIsReportedAndNeverOpened) {
  Start(Options());
  ASSERT_EQ(mkfifo((dir_ / "pipe.pem").c_str(), 0600), 0);
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));  // would hang if it were opened
  EXPECT_EQ(seen_[0].file.problem, FileProblem::kNotRegular);
  EXPECT_EQ(ReasonCode(seen_[0].file.problem), "not_regular_file");
  EXPECT_TRUE(watcher_->Fail("pipe.pem", "not_regular_file", "not a file"));
  EXPECT_TRUE(S_ISFIFO(ModeOf(dir_ / "failed" / "pipe.pem")));
  EXPECT_TRUE(Exists(dir_ / "failed" / "pipe.pem.error.json"));
}

TEST_F(InboxWatcherTest, FileOverTheLimitIsTooLarge) {
  InboxOptions options = Options();
  options.max_file_bytes = 100;
  Start(options);
  WriteFile(dir_ / "big.pem", std::string(101, 'x'));
  WriteFile(dir_ / "fits.pem", std::string(100, 'x'));
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2; }));
  std::map<std::string, FileProblem> problems;
  for (const Seen& s : seen_) problems[s.file.name] = s.file.problem;
  EXPECT_EQ(problems["big.pem"], FileProblem::kTooLarge);
  EXPECT_EQ(problems["fits.pem"], FileProblem::kNone);
  EXPECT_EQ(ReasonCode(FileProblem::kTooLarge), "file_too_large");
}

TEST_F(InboxWatcherTest, UnreadableFileIsReported) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every file";
  Start(Options());
  WriteFile(dir_ / "locked.pem", "x");
  ASSERT_EQ(chmod((dir_ / "locked.pem").c_str(), 0), 0);
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_EQ(seen_[0].file.problem, FileProblem::kUnreadable);
}

TEST_F(InboxWatcherTest, SidecarForPrefersNameDotToml) {
  Start(Options());
  EXPECT_EQ(watcher_->SidecarFor("web.pem"), std::nullopt);
  WriteFile(dir_ / "web.toml", "name = 'stem'");
  EXPECT_EQ(watcher_->SidecarFor("web.pem"), dir_ / "web.toml");
  WriteFile(dir_ / "web.pem.toml", "name = 'own'");
  EXPECT_EQ(watcher_->SidecarFor("web.pem"), dir_ / "web.pem.toml");
  EXPECT_EQ(watcher_->SidecarFor("web"), dir_ / "web.toml");
  fs::create_directory(dir_ / "dir.toml");
  EXPECT_EQ(watcher_->SidecarFor("dir.pem"), std::nullopt);  // regular files only
  fs::create_symlink(dir_ / "web.toml", dir_ / "sym.toml");
  EXPECT_EQ(watcher_->SidecarFor("sym.pem"), std::nullopt);
  EXPECT_EQ(watcher_->SidecarFor("../web.pem"), std::nullopt);
}

TEST_F(InboxWatcherTest, FinishRemovesTheFileAndItsSidecar) {
  Start(Options());
  WriteFile(dir_ / "web.pem.toml", "name = 'web'");
  WriteFile(dir_ / "web.pem", "data");
  WriteFile(dir_ / "key.pem", "data");
  WriteFile(dir_ / "key.toml", "name = 'key'");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2; }));
  EXPECT_TRUE(watcher_->Finish("web.pem"));
  EXPECT_TRUE(watcher_->Finish("key.pem"));
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"failed"});
  EXPECT_EQ(watcher_->Backlog(), 0u);
  RunFor(300ms);
  EXPECT_EQ(seen_.size(), 2u);
}

TEST_F(InboxWatcherTest, ASidecarThatCameAfterTheImportReadTheFileStays) {
  // The import read web.pem without a sidecar; web.toml arrived meanwhile. It was never read, so
  // it is neither removed nor moved: its metadata is not lost without a word.
  Start(Options());
  WriteFile(dir_ / "web.pem", "data");
  WriteFile(dir_ / "bad.pem", "data");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2; }));
  WriteFile(dir_ / "web.toml", "name = 'web'");
  WriteFile(dir_ / "bad.toml", "name = 'bad'");
  EXPECT_TRUE(watcher_->Finish("web.pem", std::nullopt));
  EXPECT_TRUE(watcher_->Fail("bad.pem", "empty_file", "empty", std::nullopt));
  EXPECT_EQ(Entries(dir_), (std::set<std::string>{"bad.toml", "failed", "web.toml"}));
  EXPECT_EQ(Entries(dir_ / "failed"), (std::set<std::string>{"bad.pem", "bad.pem.error.json"}));
}

TEST_F(InboxWatcherTest, TheSidecarTheImportReadIsTheOneRemoved) {
  Start(Options());
  WriteFile(dir_ / "web.pem.toml", "name = 'web'");
  WriteFile(dir_ / "web.pem", "data");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  auto read = watcher_->SidecarFor("web.pem");
  ASSERT_TRUE(read);
  EXPECT_TRUE(watcher_->Finish("web.pem", read));
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"failed"});
}

TEST_F(InboxWatcherTest, SharedStemSidecarStaysUntilTheLastFileIsDone) {
  Start(Options());
  WriteFile(dir_ / "web.toml", "password = 'p'");
  WriteFile(dir_ / "web.pem", "cert");
  WriteFile(dir_ / "web.key", "key");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2; }));
  EXPECT_TRUE(watcher_->Finish("web.pem"));
  EXPECT_TRUE(Exists(dir_ / "web.toml")) << "web.key still needs it";
  EXPECT_TRUE(watcher_->Fail("web.key", "key_mismatch", "no"));
  EXPECT_FALSE(Exists(dir_ / "web.toml"));
  EXPECT_EQ(ReadFile(dir_ / "failed" / "web.key.toml"), "password = 'p'");
}

TEST_F(InboxWatcherTest, SharedStemSidecarIsCopiedBesideAFailure) {
  Start(Options());
  WriteFile(dir_ / "web.toml", "password = 'p'");
  WriteFile(dir_ / "web.pem", "cert");
  WriteFile(dir_ / "web.key", "key");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2; }));
  EXPECT_TRUE(watcher_->Fail("web.pem", "expired", "expired"));
  EXPECT_EQ(ReadFile(dir_ / "failed" / "web.pem.toml"), "password = 'p'");
  EXPECT_EQ(ModeOf(dir_ / "failed" / "web.pem.toml") & 0077, 0u);
  EXPECT_EQ(ReadFile(dir_ / "web.toml"), "password = 'p'");
  EXPECT_TRUE(watcher_->Finish("web.key"));
  EXPECT_FALSE(Exists(dir_ / "web.toml"));
}

TEST_F(InboxWatcherTest, FinishWithArchiveMovesToProcessedPrivately) {
  InboxOptions options = Options();
  options.archive = true;
  Start(options);
  for (int round = 0; round < 2; ++round) {
    WriteFile(dir_ / "web.pem", "round " + std::to_string(round));
    WriteFile(dir_ / "web.pem.toml", "name = 'web'");
    ASSERT_EQ(chmod((dir_ / "web.pem").c_str(), 0644), 0);
    ASSERT_TRUE(RunUntil([&] { return seen_.size() == size_t(round + 1); }));
    EXPECT_TRUE(watcher_->Finish("web.pem"));
  }
  const fs::path processed = dir_ / "processed";
  EXPECT_EQ(Entries(processed),
            (std::set<std::string>{"web.pem", "web.pem.toml", "web.pem.1", "web.pem.1.toml"}));
  EXPECT_EQ(ReadFile(processed / "web.pem"), "round 0");
  EXPECT_EQ(ReadFile(processed / "web.pem.1"), "round 1");
  for (const std::string& name : Entries(processed)) {
    EXPECT_EQ(ModeOf(processed / name) & 07777, 0600u) << name;
  }
  EXPECT_EQ(Entries(dir_), (std::set<std::string>{"failed", "processed"}));
  EXPECT_EQ(watcher_->Backlog(), 0u);
}

// In processed/ a name must leave room for its sidecar's ".toml" and a ".N": a longer one is
// shortened as in failed/.
TEST_F(InboxWatcherTest, FinishWithArchiveGivesALongNameRoomForItsSidecar) {
  InboxOptions options = Options();
  options.archive = true;
  Start(options);
  const std::string name = std::string(246, 'a') + ".pem";
  const std::string shortened = std::string(226, 'a') + "~5b75cefe.pem";
  for (int round = 0; round < 2; ++round) {
    WriteFile(dir_ / name, "round " + std::to_string(round));
    WriteFile(dir_ / (name + ".toml"), "name = 'long'");
    ASSERT_TRUE(RunUntil([&] { return seen_.size() == size_t(round + 1); }));
    EXPECT_TRUE(watcher_->Finish(name));
  }
  EXPECT_EQ(Entries(dir_ / "processed"),
            (std::set<std::string>{shortened, shortened + ".toml", shortened + ".1",
                                   shortened + ".1.toml"}));
  EXPECT_EQ(ReadFile(dir_ / "processed" / (shortened + ".1")), "round 1");
  EXPECT_EQ(Entries(dir_), (std::set<std::string>{"failed", "processed"}));
}

// The archive step's chmod once went by path after an lstat: a name swapped for a symbolic link
// in between (RENAME_EXCHANGE in a loop) had the link's target chmodded. on_archiving runs at
// that moment, so the swap is made there, deterministically, for the file and for its sidecar.
TEST_F(InboxWatcherTest, ArchiveChmodNeverReachesASymlinkSwappedIn) {
  const fs::path outside = root_ / "outside";
  WriteFile(outside, "not the daemon's");
  ASSERT_EQ(chmod(outside.c_str(), 0644), 0);
  std::string swap;
  InboxOptions options = Options();
  options.archive = true;
  options.on_archiving = [&](const std::string& name) {
    if (name != swap) return;
    fs::create_symlink(outside, root_ / "link");
    fs::rename(root_ / "link", dir_ / name);
  };
  Start(options);
  const std::vector<std::string> swapped = {"web.pem", "web.pem.toml"};
  for (size_t round = 0; round < swapped.size(); ++round) {
    SCOPED_TRACE(swapped[round]);
    swap = swapped[round];
    WriteFile(dir_ / "web.pem", "pem");
    WriteFile(dir_ / "web.pem.toml", "name = 'web'");
    ASSERT_TRUE(RunUntil([&] { return seen_.size() == round + 1; }));
    EXPECT_TRUE(watcher_->Finish("web.pem", dir_ / "web.pem.toml"));
    EXPECT_EQ(ModeOf(outside) & 07777, 0644u);
    EXPECT_EQ(ReadFile(outside), "not the daemon's");
  }
}

// A file with another link (made after it was read, or a watcher used without the daemon's
// hard_link check): archiving moves it but leaves its mode, which is also the other link's.
TEST_F(InboxWatcherTest, ArchiveLeavesTheModeOfAHardLinkedFile) {
  const fs::path outside = root_ / "outside";
  WriteFile(outside, "elsewhere");
  ASSERT_EQ(chmod(outside.c_str(), 0644), 0);
  InboxOptions options = Options();
  options.archive = true;
  Start(options);
  ASSERT_EQ(link(outside.c_str(), (dir_ / "web.pem").c_str()), 0);
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_TRUE(watcher_->Finish("web.pem"));
  EXPECT_EQ(ModeOf(outside) & 07777, 0644u);
  EXPECT_TRUE(Exists(dir_ / "processed" / "web.pem"));
}

// failed/ and processed/ replaced by a symbolic link to a folder elsewhere: nothing is written
// or moved there; the file stays in the inbox and the outcome says why.
TEST_F(InboxWatcherTest, OutcomeFoldersSwappedForSymlinksAreNotFollowed) {
  const fs::path elsewhere = root_ / "elsewhere";
  fs::create_directory(elsewhere);
  InboxOptions options = Options();
  options.archive = true;
  Start(options);
  WriteFile(dir_ / "bad.pem", "x");
  WriteFile(dir_ / "good.pem", "y");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2; }));
  for (const char* folder : {"failed", "processed"}) {
    fs::remove_all(dir_ / folder);
    fs::create_symlink(elsewhere, dir_ / folder);
  }
  EXPECT_FALSE(watcher_->Fail("bad.pem", "pem_invalid", "x"));
  EXPECT_FALSE(watcher_->Finish("good.pem"));
  EXPECT_TRUE(Entries(elsewhere).empty());
  EXPECT_EQ(ReadFile(dir_ / "bad.pem"), "x");
  EXPECT_EQ(ReadFile(dir_ / "good.pem"), "y");
}

// A name that is not UTF-8 (or holds a newline) was recorded lossily: file_hex keeps its bytes.
TEST_F(InboxWatcherTest, FailRecordsTheExactBytesOfTheName) {
  Start(Options());
  const std::string name = "bad\xff\n.pem";
  WriteFile(dir_ / name, "x");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_TRUE(watcher_->Fail(name, "pem_invalid", "x"));
  nlohmann::json json = nlohmann::json::parse(ReadFile(dir_ / "failed" / (name + ".error.json")));
  EXPECT_EQ(json.at("file_hex"), "626164ff0a2e70656d");
  EXPECT_EQ(json.at("file"), "bad\xef\xbf\xbd\n.pem");
  EXPECT_EQ(ReadFile(dir_ / "failed" / name), "x");
}

// Finding: a rejected file whose name left no room for ".error.json" (over 244 bytes) could not
// be moved to failed/: it stayed in the inbox and was parsed again at every start. It goes there
// under a shortened name (fs_util.h, ShortenedName); the reason keeps the name it had.
TEST_F(InboxWatcherTest, FailGivesALongNameAShortenedOneInFailed) {
  Start(Options());
  const std::string name = std::string(246, 'a') + ".pem";  // 250 bytes
  const std::string shortened = std::string(226, 'a') + "~5b75cefe.pem";
  for (int round = 0; round < 2; ++round) {
    WriteFile(dir_ / name, "garbage " + std::to_string(round));
    WriteFile(dir_ / (name + ".toml"), "name = 'long'");  // 255 bytes, the most a name may have
    ASSERT_TRUE(RunUntil([&] { return seen_.size() == size_t(round + 1); }));
    EXPECT_TRUE(watcher_->Fail(name, "unrecognized_format", "x"));
  }
  const fs::path failed = dir_ / "failed";
  EXPECT_EQ(Entries(failed),
            (std::set<std::string>{shortened, shortened + ".error.json", shortened + ".toml",
                                   shortened + ".1", shortened + ".1.error.json",
                                   shortened + ".1.toml"}));
  EXPECT_EQ(ReadFile(failed / shortened), "garbage 0");
  EXPECT_EQ(ReadFile(failed / (shortened + ".1")), "garbage 1");
  nlohmann::json json = nlohmann::json::parse(ReadFile(failed / (shortened + ".error.json")));
  EXPECT_EQ(json.at("file"), name);
  std::string hex;
  for (int i = 0; i < 246; ++i) hex += "61";
  EXPECT_EQ(json.at("file_hex"), hex + "2e70656d");
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"failed"});
  EXPECT_EQ(watcher_->Backlog(), 0u);
}

TEST_F(InboxWatcherTest, FailMovesTheFileBesideItsReason) {
  Start(Options());
  const std::string message = "bad \"PEM\" at C:\\x\nline 2\x01";
  for (int round = 0; round < 2; ++round) {
    WriteFile(dir_ / "bad.pem", "garbage " + std::to_string(round));
    WriteFile(dir_ / "bad.pem.toml", "name = 'bad'");
    ASSERT_TRUE(RunUntil([&] { return seen_.size() == size_t(round + 1); }));
    EXPECT_TRUE(watcher_->Fail("bad.pem", "pem_invalid", message));
  }
  const fs::path failed = dir_ / "failed";
  EXPECT_EQ(Entries(failed),
            (std::set<std::string>{"bad.pem", "bad.pem.error.json", "bad.pem.toml", "bad.pem.1",
                                   "bad.pem.1.error.json", "bad.pem.1.toml"}));
  EXPECT_EQ(ReadFile(failed / "bad.pem"), "garbage 0");
  EXPECT_EQ(ReadFile(failed / "bad.pem.1"), "garbage 1");
  for (const char* json_name : {"bad.pem.error.json", "bad.pem.1.error.json"}) {
    nlohmann::json json = nlohmann::json::parse(ReadFile(failed / json_name));
    EXPECT_EQ(json.at("file"), "bad.pem");
    EXPECT_EQ(json.at("reason"), "pem_invalid");
    EXPECT_EQ(json.at("message"), message);
    EXPECT_TRUE(IsRfc3339Utc(json.at("time").get<std::string>())) << json.at("time");
  }
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"failed"});
  EXPECT_EQ(watcher_->Backlog(), 0u);
}

TEST_F(InboxWatcherTest, FailThatCannotMoveLeavesTheFileInTheInbox) {
  Start(Options());
  WriteFile(dir_ / "bad.pem", "x");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  fs::remove(dir_ / "failed");
  WriteFile(dir_ / "failed", "not a folder");
  EXPECT_FALSE(watcher_->Fail("bad.pem", "pem_invalid", "x"));
  EXPECT_EQ(ReadFile(dir_ / "bad.pem"), "x");
  EXPECT_EQ(watcher_->Backlog(), 1u);  // still in flight: the caller may Release it
  fs::remove(dir_ / "failed");
  EXPECT_TRUE(watcher_->Fail("bad.pem", "pem_invalid", "x"));  // failed/ is made again
  EXPECT_EQ(ReadFile(dir_ / "failed" / "bad.pem"), "x");
}

TEST_F(InboxWatcherTest, FailOfAVanishedFileSaysSo) {
  Start(Options());
  WriteFile(dir_ / "gone.pem", "x");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  fs::remove(dir_ / "gone.pem");
  EXPECT_FALSE(watcher_->Fail("gone.pem", "pem_invalid", "x"));
  EXPECT_EQ(Entries(dir_ / "failed"), std::set<std::string>{});
  EXPECT_EQ(watcher_->Backlog(), 0u);
}

TEST_F(InboxWatcherTest, ReleasedFileIsOfferedAgainAfterSettling) {
  Start(Options(/*settle_ms=*/150));
  WriteFile(dir_ / "web.pem", "x");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  watcher_->Release("web.pem");
  const Clock::time_point released = Clock::now();
  EXPECT_EQ(watcher_->Backlog(), 1u);
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2; }));
  EXPECT_EQ(seen_[1].file.name, "web.pem");
  EXPECT_GE(seen_[1].at - released, 150ms);
}

TEST_F(InboxWatcherTest, FileReplacedWhileInFlightIsNotRemoved) {
  Start(Options());
  WriteFile(dir_ / "web.pem", "old");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  WriteFile(dir_ / ".web.pem.new", "new content");
  fs::rename(dir_ / ".web.pem.new", dir_ / "web.pem");
  EXPECT_FALSE(watcher_->Finish("web.pem"));
  EXPECT_EQ(ReadFile(dir_ / "web.pem"), "new content");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2; }));
  EXPECT_EQ(seen_[1].file.size, 11u);
  EXPECT_TRUE(watcher_->Finish("web.pem"));
  EXPECT_FALSE(Exists(dir_ / "web.pem"));
}

TEST_F(InboxWatcherTest, FileRemovedWhileSettlingIsForgotten) {
  Start(Options(/*settle_ms=*/300));
  WriteFile(dir_ / "brief.pem", "x");
  ASSERT_TRUE(RunUntil([&] { return watcher_->Backlog() == 1; }));
  fs::remove(dir_ / "brief.pem");
  ASSERT_TRUE(RunUntil([&] { return watcher_->Backlog() == 0; }));
  RunFor(400ms);
  EXPECT_TRUE(seen_.empty());
}

TEST_F(InboxWatcherTest, BacklogCountsSettlingAndInFlight) {
  Start(Options(/*settle_ms=*/200));
  for (const char* name : {"a.pem", "b.pem", "c.pem"}) WriteFile(dir_ / name, "x");
  ASSERT_TRUE(RunUntil([&] { return watcher_->Backlog() == 3; }));
  EXPECT_TRUE(seen_.empty()) << "handed over before settling";
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 3; }));
  EXPECT_EQ(watcher_->Backlog(), 3u);
  EXPECT_TRUE(watcher_->Finish("a.pem"));
  EXPECT_EQ(watcher_->Backlog(), 2u);
  EXPECT_TRUE(watcher_->Fail("b.pem", "pem_invalid", "x"));
  EXPECT_EQ(watcher_->Backlog(), 1u);
  watcher_->Release("c.pem");
  EXPECT_EQ(watcher_->Backlog(), 1u);
}

TEST_F(InboxWatcherTest, ThousandsDroppedAtOnceAreEachHandedOverOnce) {
  constexpr int kFiles = certinbox::testing::Scaled(2000, 500);
  Start(Options(/*settle_ms=*/100));
  for (int i = 0; i < kFiles; ++i) {
    WriteFile(dir_ / ("cert-" + std::to_string(i) + ".pem"), "certificate " + std::to_string(i));
  }
  const Clock::time_point dropped = Clock::now();
  ASSERT_TRUE(RunUntil([&] { return seen_.size() >= kFiles; }, 60s)) << seen_.size();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - dropped);
  RunFor(300ms);
  std::set<std::string> names;
  for (const Seen& s : seen_) names.insert(s.file.name);
  EXPECT_EQ(seen_.size(), size_t(kFiles));
  EXPECT_EQ(names.size(), size_t(kFiles));
  EXPECT_EQ(watcher_->Backlog(), size_t(kFiles));
  EXPECT_LT(took, 5s) << "too slow for " << kFiles << " files";
  for (const std::string& name : names) ASSERT_TRUE(watcher_->Finish(name)) << name;
  EXPECT_EQ(watcher_->Backlog(), 0u);
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"failed"});
  std::cout << kFiles << " files handed over in " << took.count() << " ms\n";
}

TEST_F(InboxWatcherTest, ListenerMayFinishInsideTheCallback) {
  Start(Options());
  on_ready_ = [this](const ReadyFile& file) { EXPECT_TRUE(watcher_->Finish(file.name)); };
  for (int i = 0; i < 20; ++i) WriteFile(dir_ / ("f" + std::to_string(i)), "x");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 20; }));
  EXPECT_EQ(watcher_->Backlog(), 0u);
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"failed"});
}

TEST_F(InboxWatcherTest, ListenerMayDestroyTheWatcherInsideTheCallback) {
  Start(Options());
  on_ready_ = [this](const ReadyFile&) { watcher_.reset(); };
  for (int i = 0; i < 5; ++i) WriteFile(dir_ / ("f" + std::to_string(i)), "x");
  ASSERT_TRUE(RunUntil([&] { return !seen_.empty(); }));
  RunFor(200ms);
  EXPECT_EQ(seen_.size(), 1u);
}

TEST_F(InboxWatcherTest, ThrowingListenerGetsTheFileAgain) {
  Start(Options());
  int calls = 0;
  on_ready_ = [&](const ReadyFile&) {
    if (++calls == 1) throw std::runtime_error("busy");
  };
  WriteFile(dir_ / "web.pem", "x");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 2; }));
  EXPECT_EQ(warnings_.size(), 1u);
}

TEST_F(InboxWatcherTest, RescanRecreatesARemovedInbox) {
  InboxOptions options = Options();
  options.rescan_ms = 50;
  Start(options);
  fs::remove_all(dir_);
  ASSERT_TRUE(RunUntil([&] { return fs::is_directory(dir_ / "failed"); }));
  WriteFile(dir_ / "web.pem", "x");
  ASSERT_TRUE(RunUntil([&] { return seen_.size() == 1; }));
  EXPECT_EQ(seen_[0].file.name, "web.pem");
}

}  // namespace
}  // namespace certinbox::watchers
