// The webhook's body signature: HMAC-SHA256 of the body under the shared secret, in the form of
// GitHub's webhooks (`X-Certinbox-Signature: sha256=HEX`), so receivers can reuse their checks.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace certinbox::webhook {

// HMAC-SHA256(secret, body) as 64 lowercase hex digits; std::nullopt only if OpenSSL fails.
std::optional<std::string> HmacSha256Hex(std::string_view secret, std::string_view body);

// The X-Certinbox-Signature header's value: "sha256=" + HmacSha256Hex(secret, body).
std::optional<std::string> SignatureHeaderValue(std::string_view secret, std::string_view body);

}  // namespace certinbox::webhook
