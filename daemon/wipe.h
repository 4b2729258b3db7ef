// Wiping key bytes that passed through JSON: a control reply with a private key (export,
// material) or a request with a password is overwritten before its memory is freed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace certinbox::daemon {

// Overwrites every string in `value` (object keys are left: they are the protocol's names)
// with OPENSSL_cleanse. The value keeps its shape; its strings hold zero bytes afterwards.
void WipeJson(nlohmann::json& value);

// Overwrites `text` with OPENSSL_cleanse (its whole capacity) and empties it.
void WipeString(std::string& text);

}  // namespace certinbox::daemon
