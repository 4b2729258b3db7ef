#include "http/metrics.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

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

// The x509-certificate-exporter families, each written whole.
struct X509Families {
  Exposition not_after, not_before, expired, expires_in;
  int64_t read_errors = 0;

  void Add(const storage::EntryRow& entry, base::UnixTime now, bool expires_in_seconds) {
    auto names = pipeline::ReadExporterNames(entry.der);
    if (!names) {
      ++read_errors;
      return;
    }
    const std::string filepath = entry.group + "/" + entry.name;
    const Labels labels = {
        {"serial_number", names->serial_decimal},
        {"subject_C", names->subject.c},
        {"subject_ST", names->subject.st},
        {"subject_L", names->subject.l},
        {"subject_O", names->subject.o},
        {"subject_OU", names->subject.ou},
        {"subject_CN", names->subject.cn},
        {"issuer_C", names->issuer.c},
        {"issuer_ST", names->issuer.st},
        {"issuer_L", names->issuer.l},
        {"issuer_O", names->issuer.o},
        {"issuer_OU", names->issuer.ou},
        {"issuer_CN", names->issuer.cn},
        {"filename", entry.name},
        {"filepath", filepath},
    };
    not_after.Sample("x509_cert_not_after", labels, int64_t{entry.not_after});
    not_before.Sample("x509_cert_not_before", labels, int64_t{entry.not_before});
    expired.Sample("x509_cert_expired", labels, int64_t{now > entry.not_after ? 1 : 0});
    if (expires_in_seconds) {
      expires_in.Sample("x509_cert_expires_in_seconds", labels, int64_t{entry.not_after - now});
    }
  }
};

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
  out.Family("certinbox_build_info", "gauge", "The running certinboxd's version (value 1)");
  out.Sample("certinbox_build_info", {{"version", context.version}}, int64_t{1});
}

}  // namespace

base::Result<std::string> RenderMetrics(const MetricsContext& context) {
  auto reader = storage::InventoryReader::Open(context.database);
  if (!reader) return std::unexpected(reader.error());

  X509Families x509;
  Exposition info;
  std::map<std::string, int64_t> by_status;
  for (const char* status : kStatuses) by_status[status] = 0;
  info.Family("certinbox_entry_info", "gauge",
              "One series per entry (value 1): its name, group, kind, status, current version, "
              "fingerprint and labels");
  auto read = reader->ForEachEntry(context.now, context.expiring_soon_days,
                                   [&](const storage::EntryRow& entry) {
                                     ++by_status[entry.status];
                                     const std::string version = std::to_string(entry.version);
                                     const std::string labels = JoinLabels(entry.labels_json);
                                     info.Sample("certinbox_entry_info",
                                                 {{"name", entry.name},
                                                  {"group", entry.group},
                                                  {"kind", entry.kind},
                                                  {"status", entry.status},
                                                  {"version", version},
                                                  {"fingerprint", entry.fingerprint_sha256},
                                                  {"labels", labels}},
                                                 int64_t{1});
                                     if (!entry.der.empty())
                                       x509.Add(entry, context.now, context.expires_in_seconds);
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

  Exposition out;
  out.Family("x509_cert_not_after", "gauge",
             "The certificate's notAfter, in seconds since the epoch (x509-certificate-exporter)");
  std::string text = out.Take() + x509.not_after.Take();
  out.Family("x509_cert_not_before", "gauge",
             "The certificate's notBefore, in seconds since the epoch (x509-certificate-exporter)");
  text += out.Take() + x509.not_before.Take();
  out.Family("x509_cert_expired", "gauge",
             "1 if the certificate has expired, else 0 (x509-certificate-exporter)");
  text += out.Take() + x509.expired.Take();
  if (context.expires_in_seconds) {
    out.Family("x509_cert_expires_in_seconds", "gauge",
               "Seconds until the certificate expires, negative once expired "
               "(x509-certificate-exporter)");
    text += out.Take() + x509.expires_in.Take();
  }
  out.Family("x509_read_errors", "gauge",
             "Stored certificates that could not be read for the x509 series");
  out.Sample("x509_read_errors", {}, x509.read_errors);
  text += out.Take() + info.Take();

  out.Family("certinbox_entries", "gauge", "Entries by status");
  for (const auto& [status, count] : by_status) {
    out.Sample("certinbox_entries", {{"status", status}}, count);
  }
  AddImportSeries(out, context, *tallies);
  AddBindingSeries(out, *bindings);
  AddDaemonSeries(out, context, *last_seq, *cursors);
  return text + out.Take();
}

}  // namespace certinbox::http
