// One HTTP request with libcurl, for tests of servers on loopback (certinboxd's listener,
// Prometheus's API, chromedriver). Bounded: it gives up after `timeout`.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace certinbox::testing {

struct HttpReply {
  long status = 0;  // 0: no answer (error says why)
  std::string body, content_type, error;
};

struct HttpRequest {
  std::string method = "GET";        // GET, HEAD, POST, DELETE, ...
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent with any method but GET and HEAD
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
};

HttpReply HttpFetch(const std::string& url, const HttpRequest& request = {});

// `text` percent-encoded for a URL's query.
std::string UrlEscape(const std::string& text);

}  // namespace certinbox::testing
