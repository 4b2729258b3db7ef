// CURVE keys for tcp:// endpoints (docs/protocol.md "Authentication"): key files, as written by
// certinboxd (its server key) and `certinbox keygen` (a client's), are one line of Z85 text,
// 40 characters.
#pragma once

#include <expected>
#include <filesystem>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "base/error.h"

namespace certinbox::sdk {

// What a client needs to reach a tcp:// endpoint: the server's public key and its own pair.
// All Z85 text. Empty: no CURVE (ipc:// endpoints).
struct CurveKeys {
  std::string server_public;
  std::string public_key;
  std::string secret_key;
  bool empty() const { return server_public.empty(); }
  ~CurveKeys();
};

// True for 40 characters of Z85 that decode to a 32-byte key.
bool IsCurveKey(std::string_view z85);

// The key in `file` (surrounding white space ignored). Symlinks are not followed. Fails with
// curve_keys when the file cannot be read or does not hold one Z85 key.
base::Result<std::string> ReadCurveKeyFile(const std::filesystem::path& file);

// The public key of a secret key (zmq_curve_public).
base::Result<std::string> CurvePublicOf(const std::string& secret_z85);

// Client keys from a secret key file (its public key derived) and the server's public key file.
base::Result<CurveKeys> LoadClientKeys(const std::filesystem::path& secret_file,
                                       const std::filesystem::path& server_file);

// Makes `socket` a CURVE client with `keys` (before connect); nothing when keys are empty.
void ApplyCurveClient(zmq::socket_t& socket, const CurveKeys& keys);

}  // namespace certinbox::sdk
