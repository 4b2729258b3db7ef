// base::RunOnPool on a real libuv loop and its thread pool.
#include "base/uv_work.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/error_codes.h"

namespace certinbox::base {
namespace {

class UvWorkTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override { EXPECT_EQ(uv_loop_close(&loop_), 0); }
  uv_loop_t loop_{};
};

TEST_F(UvWorkTest, WorkRunsOnThePoolAndDoneOnTheLoopThread) {
  const auto loop_thread = std::this_thread::get_id();
  std::thread::id work_thread, done_thread;
  Result<int> got = Fail("unset", "");
  ASSERT_EQ(RunOnPool<int>(
                &loop_,
                [&]() -> Result<int> {
                  work_thread = std::this_thread::get_id();
                  return 42;
                },
                [&](Result<int> result) {
                  done_thread = std::this_thread::get_id();
                  got = std::move(result);
                }),
            0);
  uv_run(&loop_, UV_RUN_DEFAULT);  // returns once the job is done: nothing else is active
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 42);
  EXPECT_NE(work_thread, loop_thread);
  EXPECT_EQ(done_thread, loop_thread);
}

TEST_F(UvWorkTest, AnErrorOrAnExceptionOfTheWorkReachesDone) {
  std::vector<Error> errors;
  auto keep = [&](Result<std::string> result) {
    ASSERT_FALSE(result);
    errors.push_back(result.error());
  };
  RunOnPool<std::string>(
      &loop_, []() -> Result<std::string> { return Fail(code::kNotFound, "gone"); }, keep);
  RunOnPool<std::string>(
      &loop_, []() -> Result<std::string> { throw std::runtime_error("boom"); }, keep,
      code::kCsrKeygenFailed);
  uv_run(&loop_, UV_RUN_DEFAULT);
  ASSERT_EQ(errors.size(), 2u);
  std::sort(errors.begin(), errors.end(),
            [](const Error& a, const Error& b) { return a.code < b.code; });
  EXPECT_EQ(errors[0].code, code::kCsrKeygenFailed);
  EXPECT_EQ(errors[0].message, "boom");
  EXPECT_EQ(errors[1].code, code::kNotFound);
}

}  // namespace
}  // namespace certinbox::base
