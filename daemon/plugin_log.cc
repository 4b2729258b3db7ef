#include "daemon/plugin_log.h"

#include <spdlog/spdlog.h>

#include "base/text.h"

namespace certinbox::daemon {

void PluginLog::EndWindowIfDue(uint64_t now_ms) {
  if (window_ms_ != 0 && now_ms - window_ms_ >= kLogWindowMs) EndWindow();
}

void PluginLog::EndWindow() {
  if (suppressed_ > 0) {
    spdlog::warn("plugin {}: {} lines suppressed (more than {} in {} s)", plugin_, suppressed_,
                 kLinesPerWindow, kLogWindowMs / 1000);
  }
  window_ms_ = 0;
  lines_ = 0;
  suppressed_ = 0;
}

void PluginLog::Line(uint64_t now_ms, std::string_view line) {
  EndWindowIfDue(now_ms);
  if (window_ms_ == 0) window_ms_ = now_ms;
  if (lines_ >= kLinesPerWindow) {
    ++suppressed_;
    return;
  }
  ++lines_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // A plugin may run as another user: what it prints can neither forge log lines nor drive
  // the terminal of whoever reads the log.
  // Both streams at info: plugins write routine lines to stderr (the SDK's log does), and a
  // real problem comes through plugin.report at its own level.
  spdlog::info("plugin {}: {}", plugin_, base::Escape(line));
}

}  // namespace certinbox::daemon
