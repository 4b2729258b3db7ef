// /metrics: the inventory in the Prometheus text format (docs/metrics.md lists every series):
// the series of x509-certificate-exporter for each entry's current certificate, and certinbox's
// own. Read from a read-only connection of its own, so a scrape never holds imports up.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/time.h"
#include "http/exposition.h"
#include "http/server.h"
#include "storage/expiry_policy.h"

namespace certinbox::storage {
struct EntryRow;
}

namespace certinbox::http {

// A supervised plugin as the loop sees it when the scrape starts.
struct PluginGauge {
  std::string name;
  bool up = false;  // running
  int64_t restarts = 0;
};

// An inbox's files seen but not yet handed over (settling or waiting), as the loop sees it.
struct InboxGauge {
  std::string name;
  int64_t backlog = 0;
};

// What the scrape needs from the loop thread, copied there before the work goes to the pool.
struct MetricsContext {
  std::filesystem::path database;
  base::UnixTime now = 0;
  storage::ExpiryPolicy expiry;     // for each entry's status
  bool expires_in_seconds = false;  // also x509_cert_expires_in_seconds
  int64_t published_seq = 0;        // the last event seq the daemon published
  std::vector<PluginGauge> plugins;
  std::vector<InboxGauge> inboxes;
  std::string version;
  // Since the daemon started: how long imports took, the events published by type, and the
  // push failures plugins reported, by plugin.
  std::optional<Histogram> import_seconds;
  std::map<std::string, int64_t> events_published;
  std::map<std::string, int64_t> push_failures;
};

// The inventory read for one scrape: each series' labels rendered once, into two buffers, and
// the samples written while the body is sent (Read, on the loop thread, a block at a time).
// About 600 bytes per entry; the exposition (about 1.2 KiB per entry) is never whole in memory.
class MetricsBody final : public BodySource {
 public:
  size_t Read(char* out, size_t max) override;

  // Kept as long as the body, and released after it: the daemon counts scrapes in flight by
  // it, and gives the memory back to the system when it goes.
  std::shared_ptr<void> hold;
  // Past this, Read throws: the body is cut and the connection closed.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();

  // A run of lines of the exposition: `head` (a family's HELP and TYPE, or nothing), then
  // `rows` lines that `row(i, out)` appends.
  struct Section {
    std::string head;
    size_t rows = 0;
    std::function<void(size_t, std::string&)> row;
  };
  // A certificate: its rendered labels, {serial_number="...",...,filepath="..."}, at
  // x509_labels_[at, at + size), and its dates.
  struct Certificate {
    size_t at = 0;
    size_t size = 0;
    base::UnixTime not_before = 0, not_after = 0;
  };

 private:
  friend base::Result<std::shared_ptr<MetricsBody>> ReadMetrics(const MetricsContext& context);
  void Reserve(size_t entries);
  bool AddEntry(const storage::EntryRow& entry);
  void AddSections(const MetricsContext& context, int64_t read_errors);
  void Fill();
  std::string_view X509Labels(size_t i) const {
    return std::string_view(x509_labels_).substr(certificates_[i].at, certificates_[i].size);
  }
  std::string_view InfoLabels(size_t i) const {
    return std::string_view(info_labels_).substr(info_at_[i], info_at_[i + 1] - info_at_[i]);
  }

  std::vector<Certificate> certificates_;
  std::string x509_labels_;
  std::string info_labels_;      // certinbox_entry_info's rendered labels, one entry after another
  std::vector<size_t> info_at_;  // where each entry's start, and the end last
  std::string rest_;             // every family after the per-entry ones, rendered whole
  std::vector<Section> sections_;
  size_t section_ = 0, row_ = 0;
  std::string pending_;  // written, not yet read
  size_t pending_at_ = 0;
};

// Reads the inventory for one scrape (text format 0.0.4). Runs on any thread (a pool thread in
// the daemon) from a read-only connection of its own, opened on context.database. storage_error
// when the database cannot be read.
base::Result<std::shared_ptr<MetricsBody>> ReadMetrics(const MetricsContext& context);

// The whole exposition in one string (for tests and tools; the daemon streams it).
std::string ReadAll(BodySource& body);

}  // namespace certinbox::http
