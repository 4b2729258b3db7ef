#include "tests/testing/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string Trim(const std::string& text) {
  size_t start = text.find_first_not_of(" \t");
  if (start == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r");
  return text.substr(start, end - start + 1);
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

HttpReceiver::HttpReceiver(std::function<int(int)> status_for)
    : status_for_(std::move(status_for)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    return;
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

HttpReceiver::~HttpReceiver() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

std::vector<HttpRequest> HttpReceiver::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

bool HttpReceiver::WaitForRequests(size_t n, std::chrono::milliseconds deadline) {
  return WaitUntil(
      [&] {
        std::lock_guard lock(mutex_);
        return requests_.size() >= n;
      },
      deadline, std::chrono::milliseconds(20));
}

void HttpReceiver::Serve() {
  while (!stop_) {
    pollfd item{listen_fd_, POLLIN, 0};
    if (::poll(&item, 1, 100) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    HandleConnection(fd);
    ::close(fd);
  }
}

void HttpReceiver::HandleConnection(int fd) {
  // One request per connection (the answer says Connection: close), read within 10 s.
  auto until = Clock::now() + std::chrono::seconds(10);
  std::string data;
  size_t header_end = std::string::npos;
  size_t content_length = 0;
  auto read_some = [&]() -> bool {
    while (!stop_ && Clock::now() < until) {
      pollfd item{fd, POLLIN, 0};
      if (::poll(&item, 1, 100) <= 0) continue;
      char buffer[16384];
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) return false;
      data.append(buffer, static_cast<size_t>(n));
      return true;
    }
    return false;
  };
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!read_some()) return;
  }
  HttpRequest request;
  size_t line_end = data.find("\r\n");
  std::string request_line = data.substr(0, line_end);
  size_t space1 = request_line.find(' ');
  size_t space2 = request_line.find(' ', space1 + 1);
  request.method = request_line.substr(0, space1);
  request.target = request_line.substr(space1 + 1, space2 - space1 - 1);
  size_t position = line_end + 2;
  while (position < header_end) {
    size_t end = data.find("\r\n", position);
    std::string line = data.substr(position, end - position);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      request.headers[Lower(line.substr(0, colon))] = Trim(line.substr(colon + 1));
    }
    position = end + 2;
  }
  if (auto length = request.header("content-length"); !length.empty()) {
    content_length = std::stoul(length);
  }
  while (data.size() < header_end + 4 + content_length) {
    if (!read_some()) return;
  }
  request.body = data.substr(header_end + 4, content_length);

  int n = 0;
  {
    std::lock_guard lock(mutex_);
    n = static_cast<int>(requests_.size()) + 1;
  }
  request.status = status_for_(n);
  // Recorded before the answer goes out: whoever got the answer finds the request here.
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(request);
  }
  if (request.status <= 0) {
    // No answer: hold the connection open (bounded) as a hung server would.
    while (!stop_ && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return;
  }
  std::string body = request.status / 100 == 2 ? "ok\n" : "try again later\n";
  std::string answer =
      "HTTP/1.1 " + std::to_string(request.status) + " " + Reason(request.status) +
      "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  size_t sent = 0;
  while (sent < answer.size() && Clock::now() < until) {
    ssize_t w = ::send(fd, answer.data() + sent, answer.size() - sent, MSG_NOSIGNAL);
    if (w <= 0) break;
    sent += static_cast<size_t>(w);
  }
}

}  // namespace certinbox::testing
