#include "plugins/sdk/curve.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error_codes.h"

namespace certinbox::sdk {

CurveKeys::~CurveKeys() { explicit_bzero(secret_key.data(), secret_key.size()); }

bool IsCurveKey(std::string_view z85) {
  if (z85.size() != 40) return false;
  std::string text(z85);
  uint8_t decoded[32];
  bool ok = zmq_z85_decode(decoded, text.c_str()) != nullptr;
  explicit_bzero(decoded, sizeof decoded);
  explicit_bzero(text.data(), text.size());
  return ok;
}

base::Result<std::string> ReadCurveKeyFile(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return base::Fail(base::code::kCurveKeys,
                      "cannot read " + file.string() + ": " + std::strerror(errno));
  char buffer[128];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  ::close(fd);
  if (n < 0)
    return base::Fail(base::code::kCurveKeys,
                      "cannot read " + file.string() + ": " + std::strerror(errno));
  std::string text(buffer, static_cast<size_t>(n));
  explicit_bzero(buffer, sizeof buffer);
  const char* space = " \t\r\n";
  size_t begin = text.find_first_not_of(space);
  size_t end = text.find_last_not_of(space);
  std::string key = begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
  explicit_bzero(text.data(), text.size());
  if (!IsCurveKey(key)) {
    explicit_bzero(key.data(), key.size());
    return base::Fail(base::code::kCurveKeys,
                      file.string() +
                          " does not hold a CURVE key (one line of 40 Z85 characters, as "
                          "`certinbox keygen` writes)");
  }
  return key;
}

base::Result<std::string> CurvePublicOf(const std::string& secret_z85) {
  char public_key[41] = {};
  if (!IsCurveKey(secret_z85) || zmq_curve_public(public_key, secret_z85.c_str()) != 0) {
    return base::Fail(base::code::kCurveKeys, "not a CURVE secret key");
  }
  return std::string(public_key);
}

base::Result<CurveKeys> LoadClientKeys(const std::filesystem::path& secret_file,
                                       const std::filesystem::path& server_file) {
  CurveKeys keys;
  auto secret = ReadCurveKeyFile(secret_file);
  if (!secret) return std::unexpected(secret.error());
  keys.secret_key = std::move(*secret);
  auto derived = CurvePublicOf(keys.secret_key);
  if (!derived)
    return base::Fail(base::code::kCurveKeys,
                      secret_file.string() + ": " + derived.error().message);
  keys.public_key = *derived;
  auto server = ReadCurveKeyFile(server_file);
  if (!server) return std::unexpected(server.error());
  keys.server_public = *server;
  return keys;
}

void ApplyCurveClient(zmq::socket_t& socket, const CurveKeys& keys) {
  if (keys.empty()) return;
  socket.set(zmq::sockopt::curve_serverkey, keys.server_public);
  socket.set(zmq::sockopt::curve_publickey, keys.public_key);
  socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
}

}  // namespace certinbox::sdk
