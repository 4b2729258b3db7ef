// Plugins for the daemon to run in integration tests: /bin/sh scripts, and the recorder test
// plugin (tests/plugins/recorder.cc) with the lines it recorded ("SEQ TYPE", one per event).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace certinbox::testing {

// A [[plugin]] table running `script` with /bin/sh -c (a TOML literal string: no ' in it);
// `more` is added to the table as written (user = ..., ack_timeout = ...).
std::string ShellPluginToml(const std::string& name, const std::string& script,
                            const std::string& more = "");

// The certinbox-recorder executable.
std::string RecorderBinary();

struct RecorderPlugin {
  std::string name = "rec";
  std::string events;  // a TOML array ("[\"cert.\"]"); none: the daemon's default
  std::string user;    // none: the daemon's user
  bool enabled = true;
  // [plugin.options]: out (the file it appends to; relative to its own folder) and delay_ms
  // (a sleep before each event). No options table when `out` is empty.
  std::string out;
  int delay_ms = 0;
};

// The config's [[plugin]] table (and [plugin.options]) for `plugin`.
std::string RecorderToml(const RecorderPlugin& plugin);

struct RecordedEvent {
  int64_t seq = 0;
  std::string type;
};

// The lines of the recorder's out file, in the order written; none when it is missing.
std::vector<RecordedEvent> ReadRecorded(const std::filesystem::path& out);

}  // namespace certinbox::testing
