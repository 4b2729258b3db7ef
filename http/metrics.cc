#include "http/metrics.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "http/exposition.h"
#include "pipeline/x509_labels.h"
#include "storage/inventory_reader.h"

namespace certinbox::http {
namespace {

constexpr const char* kStatuses[] = {"valid", "expiring_soon", "expired", "pre_activation"};

// The entry's labels as one value: "a,b,c" (labels cannot hold a comma: pipeline::CheckName).
std::string JoinLabels(const std::string& labels_json) {
  auto labels = nlohmann::json::parse(labels_json, nullptr, false);
  std::string out;
  if (!labels.is_array()) return out;
  for (const auto& label : labels) {
    if (!label.is_string()) continue;
    if (!out.empty()) out += ',';
    out += label.get<std::string>();
  }
  return out;
}

// The x509-certificate-exporter labels of one certificate, rendered.
std::string RenderX509Labels(const storage::EntryRow& entry, const pipeline::ExporterNames& names) {
  const std::string filepath = entry.group + "/" + entry.name;
  return RenderLabels({
      {"serial_number", names.serial_decimal},
      {"subject_C", names.subject.c},
      {"subject_ST", names.subject.st},
      {"subject_L", names.subject.l},
      {"subject_O", names.subject.o},
      {"subject_OU", names.subject.ou},
      {"subject_CN", names.subject.cn},
      {"issuer_C", names.issuer.c},
      {"issuer_ST", names.issuer.st},
      {"issuer_L", names.issuer.l},
      {"issuer_O", names.issuer.o},
      {"issuer_OU", names.issuer.ou},
      {"issuer_CN", names.issuer.cn},
      {"filename", entry.name},
      {"filepath", filepath},
  });
}

// The head of a family: its HELP and TYPE lines.
std::string FamilyHead(std::string_view name, std::string_view type, std::string_view help) {
  Exposition head;
  head.Family(name, type, help);
  return head.Take();
}

// The import log's totals and the inboxes' backlogs.
void AddImportSeries(Exposition& out, const MetricsContext& context,
                     const std::vector<storage::ImportTally>& tallies) {
  out.Family("certinbox_imports_total", "counter",
             "Files taken from each inbox, by outcome (imported, duplicate, rejected)");
  std::map<std::pair<std::string, std::string>, int64_t> by_outcome;
  for (const auto& tally : tallies) by_outcome[{tally.inbox, tally.outcome}] += tally.files;
  for (const auto& [key, files] : by_outcome) {
    out.Sample("certinbox_imports_total", {{"inbox", key.first}, {"outcome", key.second}}, files);
  }
  out.Family("certinbox_rejections_total", "counter",
             "Files each inbox rejected (moved to failed/), by reason code");
  for (const auto& tally : tallies) {
    if (tally.outcome != "rejected") continue;
    out.Sample("certinbox_rejections_total", {{"inbox", tally.inbox}, {"reason", tally.reason}},
               tally.files);
  }
  out.Family("certinbox_inbox_backlog", "gauge",
             "Files in each inbox seen but not yet handed to the import (settling or waiting)");
  for (const auto& inbox : context.inboxes) {
    out.Sample("certinbox_inbox_backlog", {{"inbox", inbox.name}}, inbox.backlog);
  }
}

// Each binding's versions and last push.
void AddBindingSeries(Exposition& out, const std::vector<storage::BindingState>& bindings) {
  auto labels = [](const storage::BindingState& b) -> Labels {
    return {{"resource", b.resource}, {"entry", b.entry}, {"plugin", b.plugin}};
  };
  out.Family("certinbox_binding_current_version", "gauge",
             "The current version of the entry each resource is bound to");
  for (const auto& b : bindings) {
    out.Sample("certinbox_binding_current_version", labels(b), b.current_version);
  }
  out.Family("certinbox_binding_pushed_version", "gauge",
             "The entry version last pushed to each resource (0: none yet)");
  for (const auto& b : bindings) {
    out.Sample("certinbox_binding_pushed_version", labels(b), b.pushed_version);
  }
  out.Family("certinbox_binding_last_push_succeeded", "gauge",
             "1 if the last push to the resource succeeded, 0 if it failed (none before a push)");
  for (const auto& b : bindings) {
    if (b.last_push_result.empty()) continue;
    out.Sample("certinbox_binding_last_push_succeeded", labels(b),
               int64_t{b.last_push_result == "succeeded" ? 1 : 0});
  }
}

// certinbox's series beside the entries: the outbox, the cursors, the plugins, the build.
void AddDaemonSeries(Exposition& out, const MetricsContext& context, int64_t last_seq,
                     const std::vector<storage::Cursor>& cursors) {
  out.Family("certinbox_event_last_seq", "gauge",
             "The seq of the last event written to the outbox");
  out.Sample("certinbox_event_last_seq", {}, last_seq);
  out.Family("certinbox_event_published_seq", "gauge",
             "The seq of the last event the daemon published on its PUB socket");
  out.Sample("certinbox_event_published_seq", {}, context.published_seq);
  out.Family("certinbox_cursor_seq", "gauge", "The last event seq each cursor acknowledged");
  for (const auto& cursor : cursors) {
    out.Sample("certinbox_cursor_seq", {{"cursor", cursor.name}}, cursor.seq);
  }
  out.Family("certinbox_cursor_lag", "gauge",
             "Events written after each cursor's seq: how far its subscriber is behind");
  for (const auto& cursor : cursors) {
    out.Sample("certinbox_cursor_lag", {{"cursor", cursor.name}},
               std::max<int64_t>(0, last_seq - cursor.seq));
  }
  out.Family("certinbox_plugin_up", "gauge", "1 while the supervised plugin runs, else 0");
  for (const auto& plugin : context.plugins) {
    out.Sample("certinbox_plugin_up", {{"plugin", plugin.name}}, int64_t{plugin.up ? 1 : 0});
  }
  out.Family("certinbox_plugin_restarts_total", "counter",
             "Times the supervisor restarted the plugin since the daemon started");
  for (const auto& plugin : context.plugins) {
    out.Sample("certinbox_plugin_restarts_total", {{"plugin", plugin.name}}, plugin.restarts);
  }
  out.Family("certinbox_events_published_total", "counter",
             "Events published on the bus since the daemon started, by type");
  for (const auto& [type, count] : context.events_published) {
    out.Sample("certinbox_events_published_total", {{"type", type}}, count);
  }
  out.Family("certinbox_push_failures_total", "counter",
             "Failed pushes plugins reported since the daemon started, by plugin");
  for (const auto& [plugin, count] : context.push_failures) {
    out.Sample("certinbox_push_failures_total", {{"plugin", plugin}}, count);
  }
  if (context.import_seconds) {
    out.WriteHistogram("certinbox_import_duration_seconds",
                       "Seconds from a settled file's hand-over to its outcome stored and the "
                       "file out of its inbox (imported, duplicate or rejected)",
                       *context.import_seconds);
  }
  out.Family("certinbox_build_info", "gauge", "The running certinboxd's version (value 1)");
  out.Sample("certinbox_build_info", {{"version", context.version}}, int64_t{1});
}

}  // namespace

// Room for the usual label sizes at once (pages reserved but never written cost no memory), so
// the buffers do not grow by copies.
void MetricsBody::Reserve(size_t entries) {
  certificates_.reserve(entries);
  x509_labels_.reserve(entries * 512);
  info_labels_.reserve(entries * 384);
  info_at_.reserve(entries + 1);
}

// Its certinbox_entry_info labels, and its certificate's (false when its names are missing).
bool MetricsBody::AddEntry(const storage::EntryRow& entry) {
  const std::string version = std::to_string(entry.version);
  const std::string labels = JoinLabels(entry.labels_json);
  info_at_.push_back(info_labels_.size());
  info_labels_ += RenderLabels({{"name", entry.name},
                                {"group", entry.group},
                                {"kind", entry.kind},
                                {"status", entry.status},
                                {"version", version},
                                {"fingerprint", entry.fingerprint_sha256},
                                {"labels", labels}});
  if (entry.version == 0) return true;  // no certificate yet
  if (!entry.names) return false;
  const size_t at = x509_labels_.size();
  x509_labels_ += RenderX509Labels(entry, *entry.names);
  certificates_.push_back({.at = at,
                           .size = x509_labels_.size() - at,
                           .not_before = entry.not_before,
                           .not_after = entry.not_after});
  return true;
}

// The sections in the order they are sent: the x509 families, one section each, the entries'
// info, then the rest, whole.
void MetricsBody::AddSections(const MetricsContext& context, int64_t read_errors) {
  info_at_.push_back(info_labels_.size());
  const base::UnixTime now = context.now;
  auto x509 = [&](std::string_view name, std::string_view help,
                  int64_t (*value)(const Certificate&, base::UnixTime)) {
    sections_.push_back({.head = FamilyHead(name, "gauge", help),
                         .rows = certificates_.size(),
                         .row = [this, name, now, value](size_t i, std::string& out) {
                           AppendSample(out, name, X509Labels(i), value(certificates_[i], now));
                         }});
  };
  x509("x509_cert_not_after",
       "The certificate's notAfter, in seconds since the epoch (x509-certificate-exporter)",
       [](const Certificate& c, base::UnixTime) { return int64_t{c.not_after}; });
  x509("x509_cert_not_before",
       "The certificate's notBefore, in seconds since the epoch (x509-certificate-exporter)",
       [](const Certificate& c, base::UnixTime) { return int64_t{c.not_before}; });
  x509("x509_cert_expired", "1 if the certificate has expired, else 0 (x509-certificate-exporter)",
       [](const Certificate& c, base::UnixTime t) { return int64_t{t > c.not_after ? 1 : 0}; });
  if (context.expires_in_seconds) {
    x509("x509_cert_expires_in_seconds",
         "Seconds until the certificate expires, negative once expired "
         "(x509-certificate-exporter)",
         [](const Certificate& c, base::UnixTime t) { return int64_t{c.not_after - t}; });
  }
  Exposition errors;
  errors.Family("x509_read_errors", "gauge",
                "Stored certificates that could not be read for the x509 series");
  errors.Sample("x509_read_errors", {}, read_errors);
  sections_.push_back(
      {.head = errors.Take() +
               FamilyHead("certinbox_entry_info", "gauge",
                          "One series per entry (value 1): its name, group, kind, status, current "
                          "version, fingerprint and labels"),
       .rows = info_at_.size() - 1,
       .row = [this](size_t i, std::string& out) {
         AppendSample(out, "certinbox_entry_info", InfoLabels(i), int64_t{1});
       }});
  constexpr size_t kRestBlock = 16 * 1024;
  sections_.push_back({.rows = (rest_.size() + kRestBlock - 1) / kRestBlock,
                       .row = [this](size_t i, std::string& out) {
                         out.append(std::string_view(rest_).substr(i * kRestBlock, kRestBlock));
                       }});
}

base::Result<std::shared_ptr<MetricsBody>> ReadMetrics(const MetricsContext& context) {
  auto reader = storage::InventoryReader::Open(context.database);
  if (!reader) return std::unexpected(reader.error());
  if (auto begun = reader->Begin(); !begun) return std::unexpected(begun.error());
  auto entries = reader->EntryCount();
  if (!entries) return std::unexpected(entries.error());
  auto body = std::make_shared<MetricsBody>();
  body->Reserve(static_cast<size_t>(*entries));
  int64_t read_errors = 0;
  std::map<std::string, int64_t> by_status;
  for (const char* status : kStatuses) by_status[status] = 0;
  auto read =
      reader->ForEachEntry(context.now, context.expiry, [&](const storage::EntryRow& entry) {
        ++by_status[entry.status];
        if (!body->AddEntry(entry)) ++read_errors;
      });
  if (!read) return std::unexpected(read.error());
  auto cursors = reader->Cursors();
  if (!cursors) return std::unexpected(cursors.error());
  auto last_seq = reader->LastSeq();
  if (!last_seq) return std::unexpected(last_seq.error());
  auto tallies = reader->ImportTallies();
  if (!tallies) return std::unexpected(tallies.error());
  auto bindings = reader->Bindings();
  if (!bindings) return std::unexpected(bindings.error());
  reader->End();

  Exposition rest;
  rest.Family("certinbox_entries", "gauge", "Entries by status");
  for (const auto& [status, count] : by_status) {
    rest.Sample("certinbox_entries", {{"status", status}}, count);
  }
  AddImportSeries(rest, context, *tallies);
  AddBindingSeries(rest, *bindings);
  AddDaemonSeries(rest, context, *last_seq, *cursors);
  body->rest_ = rest.Take();
  body->AddSections(context, read_errors);
  return body;
}

// The next lines of the current section, up to kFillRows of them (a few KiB), so that the loop
// thread writes a block in short steps.
void MetricsBody::Fill() {
  constexpr size_t kFillRows = 64;
  Section& section = sections_[section_];
  if (row_ == 0) pending_ += std::exchange(section.head, {});
  for (size_t n = 0; n < kFillRows && row_ < section.rows; ++n) section.row(row_++, pending_);
  if (row_ >= section.rows) {
    ++section_;
    row_ = 0;
  }
}

size_t MetricsBody::Read(char* out, size_t max) {
  if (std::chrono::steady_clock::now() > deadline) {
    throw std::runtime_error("the client took too long to read the scrape: connection closed");
  }
  while (pending_.size() - pending_at_ < max && section_ < sections_.size()) Fill();
  const size_t n = std::min(max, pending_.size() - pending_at_);
  std::memcpy(out, pending_.data() + pending_at_, n);
  pending_at_ += n;
  if (pending_at_ == pending_.size()) {
    pending_.clear();
    pending_at_ = 0;
  } else if (pending_at_ > pending_.size() / 2) {
    pending_.erase(0, pending_at_);
    pending_at_ = 0;
  }
  return n;
}

std::string ReadAll(BodySource& body) {
  std::string out;
  char block[64 * 1024];
  while (size_t n = body.Read(block, sizeof block)) out.append(block, n);
  return out;
}

}  // namespace certinbox::http
