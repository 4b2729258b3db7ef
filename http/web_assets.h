// The inventory page's files (web/), compiled into the daemon (http/embed_web.cmake).
#pragma once

#include <span>
#include <string_view>

namespace certinbox::http {

struct WebAsset {
  std::string_view name;  // "index.html", "app.js", ...
  std::string_view content_type;
  std::string_view body;
};

std::span<const WebAsset> WebAssets();

// The file named `name`, or nullptr.
inline const WebAsset* FindWebAsset(std::string_view name) {
  for (const WebAsset& asset : WebAssets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

}  // namespace certinbox::http
