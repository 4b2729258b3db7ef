// `certinbox keygen`: a CURVE key pair for a client of a tcp:// endpoint (docs/cli.md).
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace certinbox::cli {

struct KeygenOptions {
  std::string out = ".";  // the folder the two files go to
  std::string name = "certinbox-client";
};

CLI::App* AddKeygen(CLI::App& app, KeygenOptions& options);
// Writes OUT/NAME.key (the secret key, mode 0600) and OUT/NAME.pub (0644), never over existing
// files, and prints the [[bus.client]] table the daemon's operator adds. Needs no daemon.
int RunKeygen(const KeygenOptions& options);

}  // namespace certinbox::cli
