#include "daemon/config_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace certinbox::daemon {
namespace {

constexpr size_t kMaxTokenBytes = 4096;

// "HOST:PORT" with HOST an IPv4 literal, "[IPv6]" or "localhost". False when it is not one.
bool SplitListen(const std::string& listen, std::string& address, uint16_t& port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) return false;
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || value > 65535) {
    return false;
  }
  if (host == "localhost") host = "127.0.0.1";
  unsigned char bytes[16];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (::inet_pton(AF_INET6, host.c_str(), bytes) != 1) return false;
  } else if (::inet_pton(AF_INET, host.c_str(), bytes) != 1) {
    return false;
  }
  address = host;
  port = static_cast<uint16_t>(value);
  return true;
}

bool IsLoopback(const std::string& address) {
  in_addr v4{};
  if (::inet_pton(AF_INET, address.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  return ::inet_pton(AF_INET6, address.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

void ReadToken(ConfigChecker& check, const toml::table& http, HttpConfig& config) {
  const toml::source_region& where = http.get("token_file")->source();
  std::ifstream in(config.token_file, std::ios::binary);
  if (!in) {
    check.Problem(where, "'token_file': cannot read " + config.token_file.string());
    return;
  }
  std::string token(kMaxTokenBytes + 1, '\0');
  in.read(token.data(), static_cast<std::streamsize>(token.size()));
  token.resize(static_cast<size_t>(in.gcount()));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' ||
                            token.back() == '\t')) {
    token.pop_back();
  }
  if (token.size() > kMaxTokenBytes) {
    check.Problem(where, "'token_file' " + config.token_file.string() +
                             " is longer than 4096 bytes: it must hold one token");
  } else if (token.empty()) {
    check.Problem(where, "'token_file' " + config.token_file.string() + " is empty");
  } else if (token.find_first_of(" \t\r\n") != std::string::npos) {
    check.Problem(where, "'token_file' " + config.token_file.string() +
                             " must hold one token on one line, without spaces");
  } else {
    config.token = std::move(token);
  }
}

}  // namespace

void ReadHttp(ConfigChecker& check, const toml::table& root, Config& config) {
  const toml::table* http = check.Table(root, "http");
  if (!http) return;
  check.OnlyKeys(*http, "[http]", {"listen", "token_file", "expires_in_seconds"});
  HttpConfig& out = config.http;
  if (const toml::node* node = http->get("listen")) {
    const auto* text = node->as_string();
    if (!text) {
      check.Problem(node->source(),
                    "'listen' must be a string: \"127.0.0.1:9793\", or \"\" for off");
      return;
    }
    out.listen = text->get();
    if (!out.listen.empty() && !SplitListen(out.listen, out.address, out.port)) {
      check.Problem(node->source(),
                    "'listen' must be IP:PORT (\"127.0.0.1:9793\", \"[::1]:9793\", "
                    "\"0.0.0.0:9793\"), or \"\" to turn the listener off");
      return;
    }
  }
  if (auto v = check.String(*http, "token_file")) {
    out.token_file = check.Path(*v);
    ReadToken(check, *http, out);
  }
  if (auto v = check.Bool(*http, "expires_in_seconds")) out.expires_in_seconds = *v;
  if (out.enabled() && !IsLoopback(out.address) && out.token_file.empty()) {
    check.Problem(http->get("listen")->source(),
                  "[http] listen = \"" + out.listen +
                      "\" is reachable from other hosts: give a token_file (a bearer token "
                      "every request must carry), or listen on 127.0.0.1");
  }
}

}  // namespace certinbox::daemon
