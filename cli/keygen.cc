#include "cli/keygen.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <zmq.hpp>

#include "cli/exit_codes.h"
#include "cli/session.h"

namespace certinbox::cli {
namespace {

namespace fs = std::filesystem;

bool WriteNew(const fs::path& file, const std::string& text, mode_t mode) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    PrintError("cannot create " + file.string() + ": " + std::strerror(errno) +
               (errno == EEXIST ? " (keygen never overwrites a key)" : ""));
    return false;
  }
  bool ok = ::fchmod(fd, mode) == 0 &&
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (!ok) PrintError("cannot write " + file.string() + ": " + std::strerror(saved));
  return ok;
}

}  // namespace

CLI::App* AddKeygen(CLI::App& app, KeygenOptions& options) {
  CLI::App* keygen = app.add_subcommand(
      "keygen", "Make a CURVE key pair for a client of a tcp:// endpoint (needs no daemon)");
  keygen->add_option("--out", options.out, "The folder to write NAME.key and NAME.pub to")
      ->type_name("DIR")
      ->capture_default_str();
  keygen
      ->add_option("--name", options.name, "The client's name: file names and [[bus.client]] name")
      ->type_name("NAME")
      ->capture_default_str();
  keygen->footer(
      "NAME.key holds the secret key (mode 0600): it stays with the client, which gives it with\n"
      "--curve-key. NAME.pub holds the public key; the daemon's operator adds it to the config\n"
      "with a role (read, admin, keys or plugin:NAME), as the printed [[bus.client]] shows.\n"
      "The daemon's own public key is STATE_DIR/curve_server.pub (--server-key).\n\n"
      "Examples:\n"
      "  certinbox keygen --out ~/.config/certinbox --name ops-laptop\n"
      "  certinbox --control tcp://lb1:5557 --curve-key ~/.config/certinbox/ops-laptop.key \\\n"
      "      --server-key ./curve_server.pub ls");
  return keygen;
}

int RunKeygen(const KeygenOptions& options) {
  char public_key[41] = {}, secret_key[41] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    PrintError(std::string("cannot make a CURVE key pair: ") + zmq_strerror(zmq_errno()));
    return kExitUsage;
  }
  const fs::path dir(options.out);
  std::string secret = std::string(secret_key) + "\n";
  explicit_bzero(secret_key, sizeof secret_key);
  bool ok = WriteNew(dir / (options.name + ".key"), secret, 0600);
  explicit_bzero(secret.data(), secret.size());
  if (!ok) return kExitUsage;
  if (!WriteNew(dir / (options.name + ".pub"), std::string(public_key) + "\n", 0644)) {
    return kExitUsage;
  }
  std::cout << "# " << (dir / (options.name + ".key")).string()
            << ": the secret key (keep it; give it with --curve-key)\n"
            << "# for the daemon's config (a conf.d fragment will do):\n"
            << "[[bus.client]]\n"
            << "name = \"" << options.name << "\"\n"
            << "public_key = \"" << public_key << "\"\n"
            << "role = \"read\"  # or admin, keys, plugin:NAME\n";
  return kExitOk;
}

}  // namespace certinbox::cli
