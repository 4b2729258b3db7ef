// What a supervised plugin prints, in the daemon's log: each line as "plugin NAME: LINE" at info
// (stdout and stderr alike: a real problem comes through plugin.report), escaped so that it can
// neither forge log lines nor drive a terminal. At most kLinesPerWindow lines per kLogWindowMs
// window are logged; the rest are counted and said in one warning when the window ends. Loop thread
// only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace certinbox::daemon {

class PluginLog {
 public:
  static constexpr uint64_t kLogWindowMs = 10'000;
  static constexpr int kLinesPerWindow = 200;

  explicit PluginLog(std::string plugin) : plugin_(std::move(plugin)) {}

  // One line the plugin printed (without its '\n'; a trailing '\r' is dropped), at loop time
  // `now_ms`.
  void Line(uint64_t now_ms, std::string_view line);
  // Ends the current window once it is kLogWindowMs old, saying how many lines it suppressed.
  // Called every second, so that the count is said even when the plugin prints no more.
  void EndWindowIfDue(uint64_t now_ms);

 private:
  void EndWindow();

  const std::string plugin_;
  uint64_t window_ms_ = 0;  // when the current window began; 0: none
  int lines_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace certinbox::daemon
