// A read-only view of the inventory for work off the loop thread (the /metrics scrape): its own
// SQLite connection, opened read-only. In WAL mode its reads see the last commit and never wait
// for, nor hold up, the loop's writes. One thread uses a reader at a time; open one per job.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/time.h"
#include "pipeline/x509_labels.h"
#include "storage/inventory.h"

namespace certinbox::storage {

// One entry as the metrics describe it: its current version, or none (a CSR entry waiting for
// its certificate: version 0, status pre_activation, no DER).
struct EntryRow {
  std::string name, group, kind, status;
  std::string labels_json;  // the stored JSON array of labels
  int64_t version = 0;
  std::string fingerprint_sha256;
  base::UnixTime not_before = 0, not_after = 0;
  // The current certificate's serial and names as x509-certificate-exporter labels them; none
  // without a current certificate, or when its names could not be read.
  std::optional<pipeline::ExporterNames> names;
};

// Files taken from one inbox with one outcome (imported, duplicate, rejected) and, for
// rejections, one reason code ("" otherwise), since the database was made.
struct ImportTally {
  std::string inbox, outcome, reason;
  int64_t files = 0;
};

// A binding and what its consumer has: the entry's current version, the version last pushed
// (0: none yet) and the last push's result ("succeeded", "failed", "" before the first).
struct BindingState {
  std::string resource, entry, plugin;  // entry as GROUP/NAME; plugin "" when none
  int64_t current_version = 0, pushed_version = 0;
  std::string last_push_result;
};

class InventoryReader {
 public:
  // Opens `db_file` (which the daemon's Inventory created) read-only. storage_error when it
  // cannot be opened.
  static base::Result<InventoryReader> Open(const std::filesystem::path& db_file);
  InventoryReader(InventoryReader&&) noexcept;
  InventoryReader& operator=(InventoryReader&&) noexcept;
  ~InventoryReader();

  // Calls `row` for every entry, in (group, name) order, within one read transaction (one
  // consistent snapshot for this call). Status as `ls` gives it at `now`.
  base::Result<void> ForEachEntry(base::UnixTime now, const ExpiryPolicy& expiry,
                                  const std::function<void(const EntryRow&)>& row);
  // One read transaction until End(): every read in between sees the same commit (a scrape's
  // series agree with each other). Without it, each read sees the last commit of its own.
  base::Result<void> Begin();
  void End() noexcept;
  // How many entries there are.
  base::Result<int64_t> EntryCount();
  // Subscriber cursors, by name.
  base::Result<std::vector<Cursor>> Cursors();
  // The import log, counted by inbox, outcome and reason.
  base::Result<std::vector<ImportTally>> ImportTallies();
  // Every binding, by resource.
  base::Result<std::vector<BindingState>> Bindings();
  // The last event seq written to the outbox (0 when none ever was).
  base::Result<int64_t> LastSeq();

 private:
  struct Impl;
  explicit InventoryReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace certinbox::storage
