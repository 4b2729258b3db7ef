#include "daemon/wipe.h"

#include <openssl/crypto.h>

#include <vector>

namespace certinbox::daemon {

void WipeString(std::string& text) {
  // The bytes past size() may hold an older, longer content of the same buffer.
  text.resize(text.capacity());
  OPENSSL_cleanse(text.data(), text.size());
  text.clear();
}

void WipeJson(nlohmann::json& value) {
  // A stack instead of recursion: a reply is as deep as the daemon made it, a request as deep
  // as the client sent it.
  std::vector<nlohmann::json*> pending = {&value};
  while (!pending.empty()) {
    nlohmann::json* node = pending.back();
    pending.pop_back();
    if (node->is_string()) {
      auto& text = node->get_ref<std::string&>();
      OPENSSL_cleanse(text.data(), text.size());
    } else if (node->is_structured()) {
      for (auto& child : *node) pending.push_back(&child);
    }
  }
}

}  // namespace certinbox::daemon
