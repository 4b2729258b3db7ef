// certinbox-recorder: a plugin for tests, built on the runtime and nothing else. For each event it
// appends "SEQ TYPE\n" to options.out (one write(2) per line, O_APPEND, so lines of a killed and
// restarted recorder never interleave), after sleeping options.delay_ms when given.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "plugins/sdk/plugin.h"

int main() {
  using certinbox::sdk::Plugin;
  return certinbox::sdk::RunPlugin([](Plugin& plugin) -> Plugin::Handler {
    const std::string out = plugin.options().value("out", "");
    const int delay_ms = plugin.options().value("delay_ms", 0);
    if (out.empty()) throw std::runtime_error("options.out (the file to append to) is required");
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + out);
    return [fd, delay_ms](const nlohmann::json& event) {
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      const std::string line =
          std::to_string(event.value("seq", int64_t{0})) + " " + event.value("type", "") + "\n";
      if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        throw std::runtime_error("cannot append to the out file");
      }
    };
  });
}
