// PEM text: finding the blocks of a file and decoding their base64. Internal to the pipeline.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "pipeline/error.h"
#include "pipeline/ossl.h"

namespace certinbox::pipeline {

// A label or END line named in a sentence is the file's text: cut short to this many bytes.
inline constexpr size_t kMaxLabelEcho = 64;

struct PemBlock {
  std::string_view label;  // "CERTIFICATE", "PRIVATE KEY", ...
  std::string_view body;   // the base64 between the BEGIN and END lines, headers excluded
  std::string_view text;   // the whole block, from "-----BEGIN" to the end of the END line
  bool encrypted = false;  // RFC 1421 headers "Proc-Type: 4,ENCRYPTED": legacy OpenSSL keys
};

// True when `bytes` contains a "-----BEGIN " line.
bool LooksLikePem(std::string_view bytes);

// Every block of `bytes`, in file order; text outside blocks is skipped. Views point into
// `bytes`. Fails with "malformed_pem" on a BEGIN without its END.
base::Result<std::vector<PemBlock>> ScanPem(std::string_view bytes);

// Decodes base64 `body`, skipping whitespace. False on any other character or bad padding.
bool DecodeBase64(std::string_view body, std::string& out);
bool DecodeBase64(std::string_view body, SecretBytes& out);

}  // namespace certinbox::pipeline
