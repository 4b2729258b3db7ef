// The one error type of certinbox: a stable machine code and a sentence a person can act on.
// Every module returns Result<T> for an expected failure; the code is what is stored, published
// and tested, the message is what a person reads.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <utility>

namespace certinbox::base {

struct Error {
  std::string code;     // stable: stored, published and tested (e.g. "pkcs12_bad_password")
  std::string message;  // for people: what happened and what to do about it
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> Fail(std::string code, std::string message) {
  return std::unexpected(Error{std::move(code), std::move(message)});
}

// The error of the first failed result of several, or nothing when all succeeded. For reading
// several values and checking them once:
//   auto entry = args.RequiredString("entry");
//   auto to = args.Int("to", 1, kMaxSeq);
//   if (auto bad = base::FirstError(entry, to)) return std::unexpected(*bad);
template <class... Results>
std::optional<Error> FirstError(const Results&... results) {
  std::optional<Error> first;
  ((first || results.has_value() ? void() : void(first = results.error())), ...);
  return first;
}

}  // namespace certinbox::base
