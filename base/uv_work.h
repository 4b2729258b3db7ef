// A typed job on libuv's thread pool: `work` runs on a pool thread and returns a Result; `done`
// gets it on the loop thread. Replaces a hand-made struct around uv_work_t at each call site.
#pragma once

#include <uv.h>

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "base/error.h"
#include "base/error_codes.h"

namespace certinbox::base {

// Queues `work` on `loop`'s pool. An exception thrown by `work` becomes an Error with
// `failure_code` and its what(); a job cancelled before it ran (uv_cancel on `*queued`) reaches
// `done` as `stopping`. Returns uv_queue_work's error, and then neither function runs.
// `queued`, when given, receives the request to cancel; it is valid until `done` is called.
template <class T>
int RunOnPool(uv_loop_t* loop, std::function<Result<T>()> work, std::function<void(Result<T>)> done,
              std::string failure_code = code::kInternalError, uv_work_t** queued = nullptr) {
  struct Job {
    uv_work_t request{};
    std::function<Result<T>()> work;
    std::function<void(Result<T>)> done;
    std::string failure_code;
    Result<T> result = Fail(code::kStopping, "the job was cancelled: the daemon is stopping");
  };
  auto job = std::make_unique<Job>();
  job->work = std::move(work);
  job->done = std::move(done);
  job->failure_code = std::move(failure_code);
  job->request.data = job.get();
  int rc = uv_queue_work(
      loop, &job->request,
      [](uv_work_t* request) noexcept {
        auto* job = static_cast<Job*>(request->data);
        try {
          job->result = job->work();
        } catch (const std::exception& e) {
          job->result = Fail(job->failure_code, e.what());
        }
      },
      [](uv_work_t* request, int status) noexcept {
        std::unique_ptr<Job> job(static_cast<Job*>(request->data));
        if (status == UV_ECANCELED) {
          job->result = Fail(code::kStopping, "the job was cancelled: the daemon is stopping");
        }
        try {
          job->done(std::move(job->result));
        } catch (...) {  // never out of a libuv callback; `done` logs its own failures
        }
      });
  if (rc == 0) {
    if (queued) *queued = &job->request;
    job.release();  // the after-work callback owns it now
  }
  return rc;
}

}  // namespace certinbox::base
