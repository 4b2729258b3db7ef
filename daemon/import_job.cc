#include "daemon/import_job.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "base/error.h"
#include "base/error_codes.h"

namespace certinbox::daemon {
namespace {

// The system's clock, not the daemon's Clock: it is compared with the file's mtime and ctime,
// which the kernel stamps by this clock.
int64_t WallClockNs() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// Pool threads parse at a lower priority than the loop thread, which alone stores, publishes
// and answers requests: with more pool threads than cores, the loop thread would otherwise get
// only its share of a core and every import would queue behind it. Linux applies nice per thread.
constexpr int kPoolThreadNice = 10;

void LowerPoolThreadPriority() {
  static thread_local bool lowered = false;
  if (lowered) return;
  lowered = true;
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kPoolThreadNice) != 0) {
    spdlog::debug("cannot lower the priority of a pool thread: {}", std::strerror(errno));
  }
}

int64_t ThreadCpuNs() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// Key derivations adding up to this many iterations in one file (tens of milliseconds; OpenSSL's
// own default is 2048 per derivation) make its parse a slow one: at most max_slow_parses of those
// run at once, so the other pool threads always serve the other files, control ops and WAL
// checkpoints. Counted over the whole file, so many cheap password candidates add up.
constexpr uint64_t kSlowDerivationIterations = 100'000;
// A parse that has used this much CPU time is slow too, whatever it spent it on.
constexpr int64_t kSlowParseCpuNs = 50'000'000;

// The longest a prefetch waits for its file's mtime tick to pass (a file with an mtime further
// in the future is read at once, and its prefetch is not used).
constexpr int64_t kMaxPrefetchWaitNs = 10'000'000;

}  // namespace

// What one parse may spend, asked by the parser before each step (Interrupt) and before each
// key derivation (BeforeDerivation): it gives up when the daemon stops (parse_abandoned) or
// past the inbox's parse_timeout of this thread's CPU time (parse_timeout), and a parse that
// becomes slow takes one of the service's slow slots, or is handed back to be offered again
// once its file settles (parse_deferred). Pool thread, one parse.
class ParseBudget {
 public:
  explicit ParseBudget(const ImportJob& job)
      : abandon_(job.abandon.get()),
        slow_parses_(job.slow_parses.get()),
        max_slow_parses_(job.max_slow_parses),
        timeout_s_(job.config.parse_timeout_s),
        // The deadline is this thread's CPU time, so a loaded host does not fail files that
        // merely waited; a pool thread runs one job at a time.
        cpu_deadline_(ThreadCpuNs() + static_cast<int64_t>(timeout_s_) * 1'000'000'000),
        slow_after_(ThreadCpuNs() + kSlowParseCpuNs) {}
  ~ParseBudget() {
    if (slow_slot_ != nullptr) slow_slot_->fetch_sub(1);
  }
  ParseBudget(const ParseBudget&) = delete;
  ParseBudget& operator=(const ParseBudget&) = delete;

  std::optional<base::Error> Interrupt() {
    if (abandon_ && abandon_->load(std::memory_order_relaxed)) {
      return base::Error{base::code::kParseAbandoned,
                         "certinboxd is stopping: the file stays in the inbox and is "
                         "imported on the next start"};
    }
    const int64_t cpu = ThreadCpuNs();
    if (cpu > cpu_deadline_) {
      return base::Error{
          base::code::kParseTimeout,
          "reading the file took more than the inbox's parse_timeout (" +
              std::to_string(timeout_s_) +
              " s of CPU time): it holds too many objects or password candidates that "
              "are expensive to try; split it, give the right password in its sidecar, or "
              "raise parse_timeout if the file is trusted"};
    }
    // Work that is slow without any expensive derivation (many candidates, each a MAC over a
    // large file) is slow all the same.
    if (parsing_ && cpu > slow_after_) return BecomeSlow();
    return std::nullopt;
  }

  std::optional<base::Error> BeforeDerivation(uint64_t cost) {
    if (slow_slot_ == nullptr && derived_ + cost < kSlowDerivationIterations) {
      derived_ += cost;
      return std::nullopt;
    }
    return BecomeSlow();
  }

  // A parse that is done is not handed back for being slow.
  void ParseDone() { parsing_ = false; }

 private:
  // Takes a slow slot (held to the end of the parse), or hands the file back.
  std::optional<base::Error> BecomeSlow() {
    if (slow_slot_ != nullptr || !slow_parses_) return std::nullopt;
    size_t n = slow_parses_->load();
    while (n < max_slow_parses_) {
      if (slow_parses_->compare_exchange_weak(n, n + 1)) {
        slow_slot_ = slow_parses_;
        return std::nullopt;
      }
    }
    return base::Error{base::code::kParseDeferred,
                       "other expensive files are being read: tried again later"};
  }

  const std::atomic<bool>* abandon_;
  std::atomic<size_t>* slow_parses_;
  const size_t max_slow_parses_;
  const uint64_t timeout_s_;
  const int64_t cpu_deadline_;
  const int64_t slow_after_;
  std::atomic<size_t>* slow_slot_ = nullptr;  // slow_parses_ once a slot is held
  bool parsing_ = true;
  uint64_t derived_ = 0;  // iterations of the derivations allowed so far
};

void ImportJob::Run() noexcept {
  LowerPoolThreadPriority();
  ReadParseValidate();
  // Only the results are kept (a prefetch may wait a while): not the bytes, not the passwords.
  drop.bytes.clear();
  drop.bytes.shrink_to_fit();
  drop.passwords.clear();
}

void ImportJob::ReadParseValidate() noexcept {
  try {
    if (!Read()) return;
    ParseBudget budget(*this);  // a slow slot it takes is held until the job is done
    if (!Parse(budget) || !ValidateParsed()) return;
    // Storage needs only the DER, the descriptions and the PKCS#8 bytes: the OpenSSL objects
    // are freed here, in parallel, rather than one after another on the loop thread (an EC
    // key's free alone was several microseconds there).
    for (auto& cert : parsed.certificates) cert.x509.reset();
    for (auto& key : parsed.keys) key.pkey.reset();
    for (auto& request : parsed.requests) request.req.reset();
  } catch (const std::exception& e) {
    error = base::Error{base::code::kInternalError, std::string("import failed: ") + e.what()};
  }
}

bool ImportJob::Read() {
  // Looked for here rather than at hand-over: lstat calls off the loop thread, and as close as
  // can be to reading it.
  sidecar = watchers::FindSidecar(file.path.parent_path(), file.name);
  looked_for_sidecar = true;
  read_started_ns = WallClockNs();
  if (int64_t wait = read_after_ns - read_started_ns; wait > 0 && wait <= kMaxPrefetchWaitNs) {
    timespec pause{0, static_cast<long>(wait)};
    nanosleep(&pause, nullptr);
    read_started_ns = WallClockNs();
  }
  auto read = ReadDrop(file.path, sidecar, config);
  if (!read) {
    error = read.error();
    return false;
  }
  drop = std::move(*read);
  return true;
}

bool ImportJob::Parse(ParseBudget& budget) {
  pipeline::ParseOptions options;
  options.passwords = drop.passwords;
  options.kdf = {config.max_kdf_iterations, config.max_scrypt_n, config.max_file_kdf_iterations};
  options.interrupt = [&budget] { return budget.Interrupt(); };
  options.before_derivation = [&budget](uint64_t cost) { return budget.BeforeDerivation(cost); };
  auto parsed_file = pipeline::ParseFile(drop.bytes, options);
  budget.ParseDone();
  if (parsed_file) {
    if (auto stop = options.interrupt()) parsed_file = std::unexpected(std::move(*stop));
  }
  if (!parsed_file) {
    error = parsed_file.error();
    return false;
  }
  parsed = std::move(*parsed_file);
  if (parsed.certificates.empty() && parsed.keys.empty()) {
    // Only CSRs: nothing here can be stored yet, and a file is never silently dropped.
    error = base::Error{
        base::code::kUnsupportedObject,
        "the file holds only a certificate signing request; certinbox does not store CSRs "
        "made elsewhere: drop the signed certificate (with its key) once the CA has issued it"};
    return false;
  }
  return true;
}

bool ImportJob::ValidateParsed() {
  pipeline::ValidationOptions validation_options{now, config.accept_expired};
  auto validated = pipeline::Validate(parsed, *trust, validation_options);
  if (!validated) {
    error = validated.error();
    return false;
  }
  validation = std::move(*validated);
  return true;
}

}  // namespace certinbox::daemon
