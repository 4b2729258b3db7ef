// Hexadecimal text of bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace certinbox::base {

// Lowercase hex of every byte of `bytes`: two characters per byte.
std::string HexLower(std::string_view bytes);
inline std::string HexLower(const unsigned char* data, size_t len) {
  return HexLower(std::string_view(reinterpret_cast<const char*>(data), len));
}

}  // namespace certinbox::base
