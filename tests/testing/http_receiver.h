// A small HTTP/1.1 receiver for the webhook tests: listens on 127.0.0.1 on a free port, serves one
// connection at a time on its own thread, reads each request's headers and Content-Length body,
// records it, then answers with the status the test chose (and "Connection: close"). Every wait in
// it is bounded; the destructor stops the thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace certinbox::testing {

struct HttpRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  int status = 0;  // what the receiver answered
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpReceiver {
 public:
  // `status_for(n)` is the status of the answer to the n-th request (1 = the first); 0 means no
  // answer: the connection is held open (up to 10 s) as by a hung server.
  explicit HttpReceiver(std::function<int(int n)> status_for);
  ~HttpReceiver();
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  bool listening() const { return port_ > 0; }
  int port() const { return port_; }
  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  std::vector<HttpRequest> requests() const;
  // Waits (bounded) until `n` requests were received; returns whether they were.
  bool WaitForRequests(size_t n, std::chrono::milliseconds deadline);

 private:
  void Serve();
  void HandleConnection(int fd);

  std::function<int(int)> status_for_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<HttpRequest> requests_;
  std::thread thread_;
};

}  // namespace certinbox::testing
