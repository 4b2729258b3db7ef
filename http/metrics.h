// /metrics: the inventory in the Prometheus text format (docs/metrics.md lists every series):
// the series of x509-certificate-exporter for each entry's current certificate, and certinbox's
// own. Read from a read-only connection of its own, so a scrape never holds imports up.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/time.h"

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
  int expiring_soon_days = 90;
  bool expires_in_seconds = false;  // also x509_cert_expires_in_seconds
  int64_t published_seq = 0;        // the last event seq the daemon published
  std::vector<PluginGauge> plugins;
  std::vector<InboxGauge> inboxes;
  std::string version;
};

// The exposition (text format 0.0.4). Runs on any thread (a pool thread in the daemon); opens
// its own read-only connection to context.database. storage_error when the database cannot be
// read.
base::Result<std::string> RenderMetrics(const MetricsContext& context);

}  // namespace certinbox::http
