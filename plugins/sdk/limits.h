// The budgets of the wire protocol (docs/protocol.md, "Limits"): what one control request may
// take, shared by the daemon that enforces them and the clients that check before sending.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace certinbox::sdk {

// The largest control request frame. The daemon's ROUTER socket has it as ZMQ_MAXMSGSIZE:
// a bigger frame makes libzmq drop that client's connection, so there is no reply to it.
inline constexpr size_t kMaxRequestBytes = size_t{1} << 20;

// How deep arrays and objects may nest in a request; the request object itself is depth 1.
inline constexpr int kMaxRequestDepth = 32;

// An `events` reply holds at most this many events (its `limit`)...
inline constexpr int64_t kMaxEventsPerReply = 10000;
// ...and stops before the event that would take their JSON past this many bytes (one event is
// always sent, so paging moves on). A cut page says "more": true; ask again from scanned_to.
inline constexpr size_t kMaxEventsReplyBytes = size_t{4} << 20;

// An `ls` reply holds at most this many rows (its `limit`, by default the second figure)...
inline constexpr int64_t kMaxLsRowsPerReply = 10000;
inline constexpr int64_t kDefaultLsRowsPerReply = 1000;
// ...and stops before the row that would take them past this many bytes, a row's size being an
// estimate from its stored texts (one row is always sent). A page followed by another has a
// `next` cursor.
inline constexpr size_t kMaxLsReplyBytes = size_t{4} << 20;

// Whether no array or object in `json_text` nests deeper than `max_depth`. A scan of the bytes
// that builds nothing (brackets inside strings do not count), so it is safe on any input and
// cheap enough to run before the parser; it does not say whether the text is valid JSON.
bool NestingWithin(std::string_view json_text, int max_depth);

}  // namespace certinbox::sdk
