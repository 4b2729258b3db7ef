// `status` and `events` output.
#include <string_view>
#include <vector>

#include "base/text.h"
#include "base/wire.h"
#include "cli/render.h"
#include "cli/table.h"

namespace certinbox::cli {
namespace {

std::string CountsOf(const Json& counts) {
  if (!counts.is_object() || counts.empty()) return "-";
  // The usual ones first, in an order a person reads; anything newer after them.
  static constexpr std::string_view kOrder[] = {
      "entries",        "leaf",           "ca",      "valid",     "expiring_soon", "expired",
      "pre_activation", "unmatched_keys", "imports", "rejections"};
  std::vector<std::string> parts;
  for (auto key : kOrder) {
    if (counts.contains(key)) parts.push_back(std::string(key) + " " + TextOf(counts[key]));
  }
  for (const auto& [key, value] : counts.items()) {
    bool known = key == "last_seq";
    for (auto k : kOrder) known = known || key == k;
    if (!known) parts.push_back(key + " " + TextOf(value));
  }
  return Join(parts, ", ");
}

std::string DaemonLine(const Json& status) {
  std::string line = "certinboxd";
  const Json& version = FieldOf(status, "version");
  if (!version.is_null()) line += " " + TextOf(version);
  line += ", pid " + TextOf(FieldOf(status, "pid"));
  const Json& uptime = FieldOf(status, "uptime_seconds");
  if (uptime.is_number()) line += ", up " + FormatSpan(uptime.get<int64_t>());
  return line;
}

// What an event is about: the certificate's name, else the file it came from.
std::string SubjectOf(const Json& event) {
  const Json& certificate = FieldOf(event, base::field::kCertificate);
  if (certificate.is_object()) return EntryNameOf(certificate);
  const Json& source = FieldOf(event, base::field::kSource);
  if (!source.is_null()) return SourceOf(source);
  return "-";
}

std::string Expires(const Json& certificate) {
  std::string text = "expires " + DateOf(FieldOf(certificate, base::field::kNotAfter));
  const Json& days = FieldOf(certificate, base::field::kDaysLeft);
  if (days.is_number()) text += " (" + TextOf(days) + "d)";
  return text;
}

std::string ResourceOf(const Json& event) {
  std::string text = TextOf(FieldOf(event, "resource"));
  const Json& plugin = FieldOf(event, "plugin");
  if (plugin.is_string() && !plugin.get<std::string>().empty()) {
    text += " via " + plugin.get<std::string>();
  }
  return text;
}

std::string DetailOf(const Json& event) {
  const std::string type = TextOf(FieldOf(event, base::field::kType));
  const Json& certificate = FieldOf(event, base::field::kCertificate);
  const std::string version = "v" + TextOf(FieldOf(certificate, "version"));
  if (type == base::topic::kCertImported) {
    std::string text = version + ", " + Expires(certificate);
    std::string findings = FindingsOf(FieldOf(event, base::field::kFindings));
    if (findings != "-") text += ", findings " + findings;
    return text;
  }
  if (type == base::topic::kCertRenewed) {
    const Json& previous = FieldOf(FieldOf(event, base::field::kPrevious), "version");
    std::string text = (previous.is_null() ? "" : "v" + TextOf(previous) + " -> ") + version +
                       ", " + Expires(certificate);
    if (FieldOf(event, base::field::kRollback) == true) text += " (rollback)";
    return text;
  }
  if (type == base::topic::kCertActivated) return version + ", " + Expires(certificate);
  if (type == base::topic::kCertUpdated)
    return "changed " + TextOf(FieldOf(event, base::field::kChanged));
  if (type == base::topic::kCertExpiring) {
    // `threshold` ("33%", "7d", "33%,30d") since thresholds may be shares of the lifetime;
    // an older event has threshold_days only.
    const Json& threshold = FieldOf(event, base::field::kThreshold);
    return TextOf(FieldOf(event, base::field::kDaysLeft)) + " days left (threshold " +
           (threshold.is_string() ? threshold.get<std::string>()
                                  : TextOf(FieldOf(event, base::field::kThresholdDays)) + "d") +
           ")";
  }
  if (type == base::topic::kCertExpired)
    return "expired " + DateOf(FieldOf(certificate, base::field::kNotAfter));
  if (type == base::topic::kCertBound) return "bound to " + ResourceOf(event);
  if (type == base::topic::kCertUnbound) return "unbound from " + ResourceOf(event);
  if (type == base::topic::kCertDeleted) return "";
  if (type == base::topic::kCsrCreated)
    return "CSR for " + TextOf(FieldOf(certificate, base::field::kSubject));
  if (type == base::topic::kImportRejected) {
    return TextOf(FieldOf(event, "reason")) + ": " + OneLine(TextOf(FieldOf(event, "message")));
  }
  if (type == base::topic::kConfigReloaded)
    return "changed " + TextOf(FieldOf(event, base::field::kChanged));
  if (type == base::topic::kConfigRejected) return OneLine(TextOf(FieldOf(event, "errors")));
  if (type == base::topic::kPushSucceeded || type == base::topic::kPushFailed) {
    std::string text = ResourceOf(event) + ", v" + TextOf(FieldOf(event, "version"));
    const Json& message = FieldOf(event, "message");
    if (message.is_string() && !message.get<std::string>().empty()) {
      text += ": " + OneLine(message.get<std::string>());
    }
    return text;
  }
  return "";
}

// What needs the operator, one line each: inboxes not watched, a refused reload, plugins
// whose last run ended in an error.
std::string RenderProblems(const Json& status) {
  std::string out;
  auto add = [&out](const std::string& indent, const std::string& line) {
    out += indent + base::Escape(line) + "\n";
  };
  const Json& inboxes = FieldOf(status, "inboxes");
  if (inboxes.is_array()) {
    for (const auto& inbox : inboxes) {
      if (FieldOf(inbox, "watching") != false) continue;
      add("  ", "inbox " + TextOf(FieldOf(inbox, "name")) + " (" + TextOf(FieldOf(inbox, "path")) +
                    ") is not watched: " + OneLine(TextOf(FieldOf(inbox, "error"))));
    }
  }
  const Json& reload = FieldOf(FieldOf(status, "config"), "last_reload");
  if (FieldOf(reload, "outcome") == "rejected") {
    add("  ", "the config reload at " + TextOf(FieldOf(reload, "time")) +
                  " was refused; the config before it still runs:");
    const Json& errors = FieldOf(reload, "errors");
    if (errors.is_array()) {
      for (const auto& error : errors) add("    ", OneLine(TextOf(error)));
    }
  }
  const Json& plugins = FieldOf(status, "plugins");
  if (plugins.is_array()) {
    for (const auto& plugin : plugins) {
      const Json& error = FieldOf(plugin, "last_error");
      if (!error.is_string() || error.get<std::string>().empty()) continue;
      add("  ", "plugin " + TextOf(FieldOf(plugin, "name")) + ": " + OneLine(TextOf(error)));
    }
  }
  return out;
}

}  // namespace

std::string RenderStatus(const Json& status) {
  const std::vector<std::pair<std::string, std::string>> lines = {
      {"daemon", DaemonLine(status)},
      {"control", TextOf(FieldOf(status, "control_endpoint"))},
      {"publish", TextOf(FieldOf(status, "publish_endpoint"))},
      {"last seq", TextOf(FieldOf(status, "last_seq"))},
      {"counts", CountsOf(FieldOf(status, "counts"))},
  };
  std::string out;
  for (const auto& [label, value] : lines) {
    out += label + ":" + std::string(9 - label.size(), ' ') + base::Escape(value) + "\n";
  }
  const Json& inboxes = FieldOf(status, "inboxes");
  if (inboxes.is_array() && !inboxes.empty()) {
    Table table({"INBOX", "BACKLOG", "PATH"});
    for (const auto& inbox : inboxes) {
      const bool watched = FieldOf(inbox, "watching") != false;
      table.AddRow({TextOf(FieldOf(inbox, "name")),
                    watched ? TextOf(FieldOf(inbox, "backlog")) : "NOT WATCHED",
                    TextOf(FieldOf(inbox, "path"))});
    }
    out += "\n" + table.Render();
  } else {
    out += "\nno inboxes configured\n";
  }
  const Json& cursors = FieldOf(status, "cursors");
  if (cursors.is_array() && !cursors.empty()) out += "\n" + RenderCursors(cursors);
  const Json& plugins = FieldOf(status, "plugins");
  if (plugins.is_array() && !plugins.empty()) {
    Table table(
        {"PLUGIN", "STATE", "PID", "RESTARTS", "CURSOR", "BEHIND", "LAST EXIT", "LAST ERROR"});
    for (const auto& plugin : plugins) {
      const Json& state = FieldOf(plugin, "state");
      table.AddRow({TextOf(FieldOf(plugin, "name")),
                    TextOf(state.is_null() ? FieldOf(plugin, "status") : state),
                    TextOf(FieldOf(plugin, "pid")), TextOf(FieldOf(plugin, "restarts")),
                    TextOf(FieldOf(plugin, "cursor")), TextOf(FieldOf(plugin, "behind")),
                    TextOf(FieldOf(plugin, "last_exit")),
                    OneLine(TextOf(FieldOf(plugin, "last_error")))});
    }
    out += "\n" + table.Render();
  }
  if (std::string problems = RenderBindingProblems(status); !problems.empty()) {
    out += "\n" + problems;
  }
  if (std::string problems = RenderProblems(status); !problems.empty()) {
    out += "\nproblems:\n" + problems;
  }
  return out;
}

std::string RenderCursors(const Json& cursors) {
  Table table({"CURSOR", "SEQ", "BEHIND", "LAST ACK"});
  for (const auto& cursor : cursors) {
    table.AddRow({TextOf(FieldOf(cursor, "name")), TextOf(FieldOf(cursor, "seq")),
                  TextOf(FieldOf(cursor, "behind")), TextOf(FieldOf(cursor, "updated_at"))});
  }
  return table.Render();
}

std::string RenderEvent(const Json& event) {
  std::string type = TextOf(FieldOf(event, base::field::kType));
  if (type.size() < 15) type.append(15 - type.size(), ' ');
  std::string line = TextOf(FieldOf(event, base::field::kSeq)) + " " +
                     TextOf(FieldOf(event, base::field::kTime)) + " " + type + " " +
                     SubjectOf(event);
  std::string detail = DetailOf(event);
  if (!detail.empty()) line += "  " + detail;
  return base::Escape(line);
}

}  // namespace certinbox::cli
