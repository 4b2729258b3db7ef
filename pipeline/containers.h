// PKCS#12 and PKCS#7 containers. Internal to the pipeline.
#pragma once

#include <string_view>

#include "pipeline/collector.h"

namespace certinbox::pipeline {

// Opens a PKCS#12 with the candidate passwords (options, then "", then none) and collects
// its certificates and keys. Every key derivation (MAC, encrypted safes, shrouded keys) is
// judged against the collector's budget before it runs. Fails with pkcs12_bad_password,
// pkcs12_malformed, unsupported_object (RC2/3DES without OpenSSL's legacy provider),
// too_many_objects, kdf_too_expensive, the budget's interrupt, or the codes of a bad
// certificate or key inside.
Status ReadPkcs12(PKCS12* p12, Collector& out);

// Collects the certificates of a PKCS#7 SignedData. Fails with pkcs7_malformed or
// too_many_objects. `where` names the bundle in sentences.
Status ReadPkcs7(PKCS7* p7, std::string_view where, Collector& out);

}  // namespace certinbox::pipeline
