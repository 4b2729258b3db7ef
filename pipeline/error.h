// The one error type of certinbox: a stable machine code and a sentence a person can act on.
#pragma once

#include <expected>
#include <string>

namespace certinbox::pipeline {

struct Error {
  std::string code;     // stable: stored, published and tested (e.g. "pkcs12_bad_password")
  std::string message;  // for people: what happened and what to do about it
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> Fail(std::string code, std::string message) {
  return std::unexpected(Error{std::move(code), std::move(message)});
}

// Empties OpenSSL's thread-local error queue and returns its entries as one string
// ("" when empty). Call it after every failed OpenSSL call so no stale error leaks into
// the next one.
std::string DrainOpensslErrors();

}  // namespace certinbox::pipeline
