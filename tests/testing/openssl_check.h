// How the test CA's sources (test_ca.cc, kdf_files.cc) call OpenSSL: a failed call throws
// std::runtime_error naming the call, with OpenSSL's error queue, and the test using it fails.
#pragma once

#include <openssl/crypto.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "pipeline/error.h"

namespace certinbox::testing {

// Throws with OpenSSL's error queue when `ok` is false.
inline void CheckOpenssl(bool ok, std::string_view what) {
  if (!ok) {
    throw std::runtime_error("test CA: " + std::string(what) +
                             " failed: " + pipeline::DrainOpensslErrors());
  }
}

// i2d_* into a std::string.
template <class T, class Fn>
std::string ToDer(T* obj, Fn i2d, std::string_view what) {
  unsigned char* buf = nullptr;
  int len = i2d(obj, &buf);
  CheckOpenssl(len > 0, what);
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return out;
}

}  // namespace certinbox::testing
