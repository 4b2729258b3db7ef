// The OpenSSL side of the error model (base/error.h holds the Error type itself).
#pragma once

#include <string>

namespace certinbox::pipeline {

// Empties OpenSSL's thread-local error queue and returns its entries as one string
// ("" when empty). Call it after every failed OpenSSL call so no stale error leaks into
// the next one.
std::string DrainOpensslErrors();

}  // namespace certinbox::pipeline
