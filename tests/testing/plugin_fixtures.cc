#include "tests/testing/plugin_fixtures.h"

#include <sstream>

#include "tests/testing/files.h"

namespace certinbox::testing {

std::string ShellPluginToml(const std::string& name, const std::string& script,
                            const std::string& more) {
  return "\n[[plugin]]\nname = \"" + name + "\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", '" +
         script + "']\n" + more + "\n";
}

std::string RecorderBinary() { return CERTINBOX_RECORDER_BIN; }

std::string RecorderToml(const RecorderPlugin& plugin) {
  std::string toml =
      "[[plugin]]\nname = \"" + plugin.name + "\"\ncommand = \"" + RecorderBinary() + "\"\n";
  if (!plugin.enabled) toml += "enabled = false\n";
  if (!plugin.user.empty()) toml += "user = \"" + plugin.user + "\"\n";
  if (!plugin.events.empty()) toml += "events = " + plugin.events + "\n";
  if (!plugin.out.empty()) {
    toml += "[plugin.options]\nout = \"" + plugin.out + "\"\n";
    if (plugin.delay_ms > 0) toml += "delay_ms = " + std::to_string(plugin.delay_ms) + "\n";
  }
  return toml;
}

std::vector<RecordedEvent> ReadRecorded(const std::filesystem::path& out) {
  std::vector<RecordedEvent> lines;
  std::istringstream in(ReadFile(out));
  RecordedEvent line;
  while (in >> line.seq >> line.type) lines.push_back(line);
  return lines;
}

}  // namespace certinbox::testing
