// Text that came from a stranger (a dropped file, a sidecar, a request), made safe to echo:
// cut to a budget and escaped for a log line or a terminal. Pure functions, any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace certinbox::base {

// What an echo of untrusted text (a PEM label, a name, a request value) may take in a log line,
// an error message, an .error.json or an event.
inline constexpr size_t kMaxEchoBytes = 256;

// `text` cut to at most `max_bytes` bytes plus "…" when longer, for a log line, a message or a
// status field. The cut never falls inside a UTF-8 sequence.
std::string Shorten(std::string text, size_t max_bytes = kMaxEchoBytes);

// `text` with every byte that could forge a line or drive a terminal written out: control
// characters (C0, DEL, and the C1 range when UTF-8 encoded) as \n, \r, \t, \e or \xNN,
// invisible format characters (bidirectional controls, zero-width characters, U+2028/2029,
// U+FEFF) as \uXXXX, a backslash as \\, and bytes that are not valid UTF-8 as \xNN.
// Printable UTF-8 stays as it is, so an ordinary name reads the same.
std::string Escape(std::string_view text);

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, nothing
// past U+10FFFF) at the start of `text`; 0 when it does not start with one (or is empty).
size_t Utf8SequenceLength(std::string_view text);

// True when `text` is well-formed UTF-8 with no control character (C0, DEL, C1) and no
// invisible format character: the text Escape leaves as it is, backslashes aside.
bool IsPrintableUtf8(std::string_view text);

}  // namespace certinbox::base
