// certinbox_ls_bench: `certinbox ls` and `certinbox ls --json` of a large inventory, through
// the real CLI against the real daemon, and the daemon's memory meanwhile. See bench/README.md.
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/corpus.h"
#include "bench/daemon_phases.h"
#include "bench/daemon_runner.h"
#include "bench/machine.h"
#include "bench/stats.h"
#include "tests/testing/ports.h"

extern char** environ;

namespace certinbox::bench {
namespace {

namespace fs = std::filesystem;

struct LsBenchOptions {
  int entries = 50000;
  int batch = 5000;
  int runs = 3;
  int page_size = 0;  // 0: the CLI's default
  int settle_ms = 50;
  std::string workdir;
  bool keep = false;
  bool json = false;
  std::string daemon = CERTINBOXD_BIN;
  std::string cli = CERTINBOX_BIN;
  std::string curl = "/usr/bin/curl";
  double rate = 20;            // steady drops per second, with and without a scrape every second
  double steady_seconds = 20;  // of each steady phase (0: skip both)
};

// Lines of `file` that start with `prefix`.
size_t CountLinesStarting(const fs::path& file, std::string_view prefix) {
  std::ifstream in(file);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.starts_with(prefix) ? 1 : 0;
  return n;
}

struct CliRun {
  double seconds = 0;
  uint64_t bytes = 0;  // of its stdout
};

// Runs the CLI with stdout to `out` and stderr to `err`, and times it from spawn to exit.
CliRun RunCli(const std::string& cli, const std::vector<std::string>& args, const fs::path& out,
              const fs::path& err) {
  std::vector<std::string> argv_text = {cli};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_text) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  auto t0 = Clock::now();
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cli.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw Fatal{"could not start " + cli + ": " + std::strerror(rc)};
  int status = 0;
  ::waitpid(pid, &status, 0);
  CliRun run{.seconds = Since(t0, Clock::now()), .bytes = fs::file_size(out)};
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Fatal{"certinbox " + args.back() + " failed (status " + std::to_string(status) +
                "): " + ReadFileBytes(err)};
  }
  return run;
}

// GET /metrics every second with curl, on a thread of its own, until it is stopped: the load a
// Prometheus scraping every second puts on the daemon while files arrive.
class Scraper {
 public:
  Scraper(const LsBenchOptions& options, std::string url, fs::path dir)
      : thread_([this, curl = options.curl, url = std::move(url), dir = std::move(dir)] {
          auto next = Clock::now();
          while (!stop_) {
            try {
              CliRun run = RunCli(curl, {"-sS", "--fail", "-o", "/dev/null", url},
                                  dir / "scrape.out", dir / "scrape.err");
              seconds_.push_back(run.seconds);
            } catch (const Fatal&) {
              ++failures_;
            }
            next += std::chrono::seconds(1);
            while (!stop_ && Clock::now() < next) {
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
          }
        }) {}
  // Scrapes that failed (not a 200).
  int failures() const { return failures_; }
  // Stops after the scrape in progress; their durations, in seconds.
  std::vector<double> Stop() {
    stop_ = true;
    thread_.join();
    return seconds_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<double> seconds_;
  int failures_ = 0;
  std::thread thread_;  // last: starts once the rest is made
};

// A "VmRSS:"-like line of /proc/PID/status, in KiB.
std::optional<uint64_t> ProcStatusKib(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key)) return std::stoull(line.substr(key.size()));
  }
  return std::nullopt;
}

// Seeds the inventory through a real daemon: the CA, then the corpus in batches renamed into
// the inbox (a batch at a time keeps the inotify queue from overflowing into rescans).
void Seed(zmq::context_t& zmq, const LsBenchOptions& options, const fs::path& root,
          const testing::Issued& ca, const std::vector<CorpusFile>& corpus) {
  DaemonRunner daemon(zmq, root, options.settle_ms);
  if (auto started = daemon.Start(options.daemon, std::chrono::seconds(20)); !started) {
    throw Fatal{started.error()};
  }
  auto t0 = Clock::now();
  ImportCa(daemon, ca, root / "stage");
  for (size_t from = 0; from < corpus.size(); from += options.batch) {
    const size_t to = std::min(corpus.size(), from + options.batch);
    std::vector<CorpusFile> batch(corpus.begin() + from, corpus.begin() + to);
    RunBurst(daemon, batch);
    std::printf("  %zu of %zu imported after %.1f s\n", to, corpus.size(), Since(t0, Clock::now()));
    std::fflush(stdout);
  }
  if (auto stopped = daemon.Stop(std::chrono::seconds(60)); !stopped || *stopped != 0) {
    throw Fatal{"the seeding daemon did not stop cleanly\n" + daemon.LogTail(20)};
  }
}

size_t CountLines(const fs::path& file) {
  std::string text = ReadFileBytes(file);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::string FormatNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string RerunArguments(const LsBenchOptions& o) {
  std::string out = "--entries " + std::to_string(o.entries) + " --batch " +
                    std::to_string(o.batch) + " --runs " + std::to_string(o.runs) +
                    " --settle-ms " + std::to_string(o.settle_ms) + " --rate " +
                    FormatNumber(o.rate) + " --steady-seconds " + FormatNumber(o.steady_seconds);
  if (o.page_size > 0) out += " --page-size " + std::to_string(o.page_size);
  if (o.json) out += " --json";
  return out;
}

int Run(const LsBenchOptions& options, const std::string& program) {
  return RunInWorkdir(options.workdir, "cbxl", options.keep, [&](const fs::path& workdir) {
    zmq::context_t zmq(1);
    std::printf("certinbox ls benchmark\n%s  workdir   %s\n\n", MachineLine(workdir).c_str(),
                workdir.c_str());
    auto g0 = Clock::now();
    testing::Issued ca = testing::Issue(testing::CaSpec("certinbox Bench CA"));
    auto corpus = GenerateCorpus(ca, workdir / "corpus", "ls", options.entries,
                                 testing::KeyType::kEcP256, std::max(1, UsableCpus()));
    std::printf("corpus: %d leaf+key files generated in %.1f s (not timed)\n", options.entries,
                Since(g0, Clock::now()));
    std::printf("seeding through certinboxd, %d files at a time:\n", options.batch);
    std::fflush(stdout);
    Seed(zmq, options, workdir, ca, corpus);
    const size_t inventory = corpus.size() + 1;  // and the CA

    // A fresh daemon on the seeded database: its peak RSS is then that of a start, and what
    // `ls` adds to it.
    const int port = testing::FreeLoopbackPort();
    if (port < 0) throw Fatal{"no free loopback port for the daemon's HTTP listener"};
    const std::string http = "127.0.0.1:" + std::to_string(port);
    DaemonRunner daemon(zmq, workdir, options.settle_ms, http);
    if (auto started = daemon.Start(options.daemon, std::chrono::seconds(60)); !started) {
      throw Fatal{started.error()};
    }
    const auto rss_idle = ProcStatusKib(daemon.pid(), "VmRSS:");
    const auto hwm_idle = daemon.PeakRssKib();
    std::printf("\na restarted daemon with %zu entries: RSS %s, peak RSS (VmHWM) %s so far\n",
                inventory, Mib(rss_idle).c_str(), Mib(hwm_idle).c_str());
    std::vector<std::string> common = {"--control", daemon.control_endpoint(), "--timeout", "60000",
                                       "ls"};
    // The CLI's entries per request (cli/commands.cc); the spawned CLIs inherit it.
    if (options.page_size > 0) {
      ::setenv("CERTINBOX_LS_PAGE_SIZE", std::to_string(options.page_size).c_str(), 1);
    }
    nlohmann::json summary = {{"entries", inventory}, {"rss_idle_kib", rss_idle.value_or(0)}};
    // One line per measure, and its figures in the JSON summary under `key`.
    auto report = [&](const std::string& what, const char* key, const std::vector<double>& seconds,
                      uint64_t bytes) {
      const double fastest = *std::min_element(seconds.begin(), seconds.end());
      const double median = Summarize(seconds).p50;
      const auto hwm = daemon.PeakRssKib();
      std::printf(
          "%-19s %d runs: fastest %.3f s, median %.3f s; %.1f MiB of output; daemon peak RSS "
          "since its start %s\n",
          what.c_str(), options.runs, fastest, median, static_cast<double>(bytes) / (1 << 20),
          Mib(hwm).c_str());
      summary[key] = {{"fastest_s", fastest},
                      {"median_s", median},
                      {"bytes", bytes},
                      {"peak_rss_kib", hwm.value_or(0)}};
    };
    for (const bool json : {false, true}) {
      std::vector<std::string> args = common;
      if (json) args.push_back("--json");
      const char* what = json ? "ls --json" : "ls";
      std::vector<double> seconds;
      uint64_t bytes = 0;
      for (int run = 1; run <= options.runs; ++run) {
        fs::path out = workdir / (json ? "ls.json" : "ls.txt");
        CliRun timed = RunCli(options.cli, args, out, workdir / "ls.err");
        seconds.push_back(timed.seconds);
        bytes = timed.bytes;
        // Checked after the clock stopped: every entry printed, once.
        size_t listed = 0;
        if (json) {
          std::ifstream in(out);
          listed = nlohmann::json::parse(in)["entries"].size();
        } else {
          listed = CountLines(out) - 1;  // the header
        }
        if (listed != inventory) {
          throw Fatal{std::string(what) + " listed " + std::to_string(listed) + " entries, not " +
                      std::to_string(inventory)};
        }
      }
      report(std::string("certinbox ") + what, json ? "ls_json" : "ls", seconds, bytes);
    }
    // GET /metrics with curl: one scrape of the whole inventory, x509 series and all.
    std::vector<double> scrape_seconds;
    uint64_t scrape_bytes = 0;
    for (int run = 1; run <= options.runs; ++run) {
      fs::path out = workdir / "metrics.txt";
      CliRun timed = RunCli(options.curl, {"-sS", "--fail", "http://" + http + "/metrics"}, out,
                            workdir / "metrics.err");
      scrape_seconds.push_back(timed.seconds);
      scrape_bytes = timed.bytes;
      size_t series = CountLinesStarting(out, "x509_cert_not_after{");
      if (series != inventory) {
        throw Fatal{"/metrics had " + std::to_string(series) + " x509_cert_not_after series, not " +
                    std::to_string(inventory)};
      }
    }
    report("GET /metrics", "metrics", scrape_seconds, scrape_bytes);

    // Files arriving at a steady rate, first alone, then while /metrics is scraped every second.
    const int steady_count = static_cast<int>(std::lround(options.rate * options.steady_seconds));
    if (steady_count > 0) {
      auto s0 = Clock::now();
      auto files = GenerateCorpus(ca, workdir / "stage-steady", "steady", 2 * steady_count,
                                  testing::KeyType::kEcP256, std::max(1, UsableCpus()));
      std::printf(
          "\nsteady drops: %d files at %g/s, alone, then with GET /metrics every second "
          "(generated in %.1f s, not timed)\n",
          steady_count, options.rate, Since(s0, Clock::now()));
      const std::vector<CorpusFile> alone(files.begin(), files.begin() + steady_count);
      const std::vector<CorpusFile> scraped(files.begin() + steady_count, files.end());
      auto line = [](const char* what, const LatencySummary& l) {
        std::printf("  %-42s p50 %6.1f  p99 %6.1f  max %6.1f ms (n=%zu)\n", what, l.p50, l.p99,
                    l.max, l.count);
      };
      SteadyResult quiet = RunSteady(daemon, alone, options.rate, options.settle_ms);
      line("alone, moved in (taken at once):", quiet.moved_ms);
      line("alone, just written (waits settle_ms):", quiet.written_ms);
      Scraper scraper(options, "http://" + http + "/metrics", workdir);
      SteadyResult busy = RunSteady(daemon, scraped, options.rate, options.settle_ms);
      const std::vector<double> scrapes = scraper.Stop();
      line("scraped every second, moved in:", busy.moved_ms);
      line("scraped every second, just written:", busy.written_ms);
      const LatencySummary scrape = Summarize(scrapes);
      std::printf("  %zu scrapes meanwhile (%d failed), each p50 %.3f s, max %.3f s\n",
                  scrapes.size(), scraper.failures(), scrape.p50, scrape.max);
      if (scraper.failures() > 0)
        throw Fatal{"scrapes failed: see " + (workdir / "scrape.err").string()};
      auto figures = [](const LatencySummary& l) {
        return nlohmann::json{{"p50_ms", l.p50}, {"p99_ms", l.p99}, {"max_ms", l.max}};
      };
      summary["steady"] = {{"rate", options.rate},
                           {"files", steady_count},
                           {"settle_ms", options.settle_ms},
                           {"alone_moved", figures(quiet.moved_ms)},
                           {"alone_written", figures(quiet.written_ms)},
                           {"scraped_moved", figures(busy.moved_ms)},
                           {"scraped_written", figures(busy.written_ms)},
                           {"scrapes", scrapes.size()},
                           {"scrape_max_s", scrape.max}};
      const auto hwm = daemon.PeakRssKib();
      std::printf("  daemon peak RSS since its start %s\n", Mib(hwm).c_str());
      summary["steady"]["peak_rss_kib"] = hwm.value_or(0);
    }
    std::printf("\n");
    std::printf("targets: under 1 s and a daemon peak under 100 MB (95.4 MiB)\n");
    std::printf("\nrerun: %s %s\n", program.c_str(), RerunArguments(options).c_str());
    if (options.json) std::printf("%s\n", summary.dump().c_str());
    (void)daemon.Stop(std::chrono::seconds(30));
    return 0;
  });
}

}  // namespace
}  // namespace certinbox::bench

int main(int argc, char** argv) {
  certinbox::bench::LsBenchOptions options;
  CLI::App app{
      "certinbox_ls_bench: seeds an inventory through certinboxd, then times `certinbox ls` and\n"
      "`certinbox ls --json` against it and reads the daemon's peak RSS (VmHWM)."};
  app.add_option("--entries", options.entries, "leaf certificates in the inventory (+ their CA)")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--batch", options.batch, "files renamed into the inbox at a time while seeding")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  app.add_option("--runs", options.runs, "timed runs of each command")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  app.add_option("--page-size", options.page_size,
                 "the CLI's entries per request, CERTINBOX_LS_PAGE_SIZE (0: its default)")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  app.add_option("--rate", options.rate, "steady drops per second, alone and while scraping")
      ->check(CLI::Range(0.1, 1000.0))
      ->capture_default_str();
  app.add_option("--steady-seconds", options.steady_seconds,
                 "length of each steady phase (0: skip them)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--settle-ms", options.settle_ms, "the inbox's settle_ms")
      ->check(CLI::Range(0, 60'000))
      ->capture_default_str();
  app.add_option("--workdir", options.workdir,
                 "new or empty folder (default: mkdtemp /tmp/cbxl-XXXXXX)");
  app.add_flag("--keep", options.keep, "keep the work folder (it is always kept after an error)");
  app.add_flag("--json", options.json, "also print a one-line JSON summary at the end");
  app.add_option("--daemon", options.daemon, "certinboxd to run")->capture_default_str();
  app.add_option("--cli", options.cli, "certinbox to run")->capture_default_str();
  app.add_option("--curl", options.curl, "curl, for GET /metrics")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::string program = std::filesystem::absolute(argv[0]).lexically_normal().string();
  return certinbox::bench::Run(options, program);
}
