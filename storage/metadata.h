// The budget of an entry's stored metadata (`meta set`, a sidecar's [metadata]): it is copied
// into every `show`, `ls` and event, so one entry must not make them huge or deep.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "pipeline/error.h"

namespace certinbox::storage {

inline constexpr int kMaxMetadataDepth = 8;         // the metadata object itself is depth 1
inline constexpr size_t kMaxMetadataKeys = 256;     // keys of the metadata object
inline constexpr size_t kMaxMetadataBytes = 65536;  // as compact JSON
inline constexpr size_t kMaxDescriptionBytes = 4096;
inline constexpr size_t kMaxLabels = 256;  // labels of one entry

// Whether `metadata` (an object) stays within the limits above; "bad_request" saying which one
// when not. Looks at most kMaxMetadataDepth levels down, so a deeper value is refused without
// being walked or dumped.
base::Result<void> CheckMetadata(const nlohmann::json& metadata);

}  // namespace certinbox::storage
