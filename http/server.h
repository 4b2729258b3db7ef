// A read-only HTTP server on the daemon's own libuv loop: libmicrohttpd in epoll mode without a
// thread of its own. Its epoll descriptor is watched by a uv_poll, a uv_timer wakes it for its
// timeouts, and MHD_run does the work on each wake, on the loop thread. A route may answer later
// (after work on libuv's pool): its connection is suspended until the answer comes.
//
// What any client may cost is bounded: connections in all and per IP address, an idle timeout,
// memory per connection (request line and headers), the URL's length. Only GET and HEAD are
// served (anything else: 405); with a token, only requests that carry it as a bearer (else 401).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/error.h"

namespace certinbox::http {

struct Request {
  std::string method;                        // GET or HEAD
  std::string path;                          // without the query
  std::map<std::string, std::string> query;  // the URL's arguments (the last of a repeated one)
};

// A body made while it is sent, so that a large one (a scrape) never has to be whole in memory.
// Read runs on the loop thread each time the client can take more, so each call must be
// short: it writes at most `max` bytes to `out` and returns how many; 0 ends the body.
class BodySource {
 public:
  virtual ~BodySource() = default;
  virtual size_t Read(char* out, size_t max) = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // When set, the body comes from here instead (sent chunked, its length unknown up front).
  std::shared_ptr<BodySource> stream;
};

// Gives the request its response, on the loop thread. Only the first call counts; a call after
// the server was destroyed does nothing.
using Answer = std::function<void(Response)>;
// A route runs on the loop thread and answers at once or later, through its Answer.
using Route = std::function<void(const Request&, Answer)>;

struct ServerOptions {
  std::string address = "127.0.0.1";  // an IPv4 or IPv6 literal
  uint16_t port = 9793;
  std::string token;  // empty: no authentication
  unsigned connection_limit = 64;
  unsigned per_ip_limit = 16;
  unsigned timeout_s = 30;          // a connection idle this long is closed
  size_t memory_limit = 32 * 1024;  // per connection: its request line and headers
  size_t max_url = 2048;            // a longer path: 414
  // By exact path, or a path ending in "/" (other than "/") for every path under it; any
  // other path: 404.
  std::map<std::string, Route> routes;
};

class Server {
 public:
  // Binds and listens on the loop thread. Error code bind_failed (with the reason) when it
  // cannot.
  static base::Result<std::unique_ptr<Server>> Start(uv_loop_t* loop, ServerOptions options);
  // Closes the listener and every connection at once: a request still waiting for its answer
  // gets 503 if its socket takes it without waiting, else it is dropped. Never waits for a
  // client. On the loop thread.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;  // the port listened on (the one chosen when options.port was 0)

  struct Impl;  // server.cc

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace certinbox::http
