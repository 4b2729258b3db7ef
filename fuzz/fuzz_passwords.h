// The candidate passwords the drop parser's fuzz target offers, and that the seed corpus
// (make_corpus.cc) encrypts its PKCS#12 files and keys with, so mutations reach the decryption.
#pragma once

#include <array>
#include <string_view>

namespace certinbox::fuzz {

inline constexpr std::array<std::string_view, 3> kPasswords = {"fuzz-password", "changeit",
                                                               "\xc3\xa9t\xc3\xa9"};

}  // namespace certinbox::fuzz
