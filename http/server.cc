#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstring>
#include <optional>
#include <set>
#include <vector>

#include "base/error_codes.h"
#include "base/uv_handle.h"

namespace certinbox::http {
namespace {

// One request, from its first header to its completion. Shared by the connection (through
// MHD's per-request pointer) and by the Answer a route holds.
struct Exchange {
  Server::Impl* server = nullptr;  // null once the request completed or the server is gone
  MHD_Connection* connection = nullptr;
  Request request;
  std::optional<Response> response;
  bool routed = false;
  bool suspended = false;
  bool queued = false;  // the response is MHD's now
};

using ExchangePtr = std::shared_ptr<Exchange>;

// Constant time whatever the inputs: their SHA-256 digests are compared with CRYPTO_memcmp, so
// neither a wrong byte's position nor the length tells anything.
bool SameSecret(std::string_view given, std::string_view expected) {
  unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
  unsigned int la = 0, lb = 0;
  if (EVP_Digest(given.data(), given.size(), a, &la, EVP_sha256(), nullptr) != 1 ||
      EVP_Digest(expected.data(), expected.size(), b, &lb, EVP_sha256(), nullptr) != 1 ||
      la != lb) {
    return false;
  }
  return CRYPTO_memcmp(a, b, la) == 0;
}

void LogFromMhd(void*, const char* format, va_list args) {
  char line[512];
  std::vsnprintf(line, sizeof line, format, args);
  std::string text(line);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  spdlog::debug("http: {}", text);
}

// Bodies up to this size are copied into the response, so that MHD sends them with the headers
// in one write; larger ones are handed over in blocks of this size, without a copy.
constexpr size_t kBlockBytes = 64 * 1024;

// A large body, handed to MHD in blocks; freed with the response.
ssize_t ReadBody(void* cls, uint64_t pos, char* buf, size_t max) {
  const auto* body = static_cast<const std::string*>(cls);
  if (pos >= body->size()) return MHD_CONTENT_READER_END_OF_STREAM;
  size_t n = std::min(max, body->size() - static_cast<size_t>(pos));
  std::memcpy(buf, body->data() + pos, n);
  return static_cast<ssize_t>(n);
}

// A streamed body; the source is freed with the response.
ssize_t ReadSource(void* cls, uint64_t, char* buf, size_t max) {
  auto& source = *static_cast<std::shared_ptr<BodySource>*>(cls);
  size_t n = 0;
  try {
    n = source->Read(buf, max);
  } catch (const std::exception& e) {
    spdlog::warn("http: a streamed body was cut: {}", e.what());
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : static_cast<ssize_t>(n);
}

MHD_Response* NewResponse(Response& response) {
  if (response.stream) {
    auto* source = new std::shared_ptr<BodySource>(std::move(response.stream));
    MHD_Response* r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, kBlockBytes, &ReadSource, source,
        [](void* cls) { delete static_cast<std::shared_ptr<BodySource>*>(cls); });
    if (r == nullptr) delete source;
    return r;
  }
  std::string& body = response.body;
  if (body.size() <= kBlockBytes) {
    return MHD_create_response_from_buffer(body.size(), body.data(), MHD_RESPMEM_MUST_COPY);
  }
  auto* owned = new std::string(std::move(body));
  MHD_Response* r =
      MHD_create_response_from_callback(owned->size(), kBlockBytes, &ReadBody, owned,
                                        [](void* cls) { delete static_cast<std::string*>(cls); });
  if (r == nullptr) delete owned;
  return r;
}

// Hands the response (its body moved out) to MHD.
MHD_Result Queue(MHD_Connection* connection, Response& response) {
  MHD_Response* r = NewResponse(response);
  if (r == nullptr) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  // The page's scripts and styles come from this server only; nothing may frame it.
  MHD_add_response_header(r, "Content-Security-Policy",
                          "default-src 'self'; frame-ancestors 'none'; base-uri 'none'");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  if (response.status == MHD_HTTP_METHOD_NOT_ALLOWED) {
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  }
  if (response.status == MHD_HTTP_UNAUTHORIZED) {
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"certinbox\"");
  }
  MHD_Result queued = MHD_queue_response(connection, static_cast<unsigned>(response.status), r);
  MHD_destroy_response(r);
  return queued;
}

Response Plain(int status, std::string body) {
  return Response{.status = status, .body = std::move(body) + "\n"};
}

}  // namespace

struct Server::Impl {
  uv_loop_t* loop;
  ServerOptions options;
  MHD_Daemon* mhd = nullptr;
  uint16_t port = 0;
  base::UvHandlePtr<uv_poll_t> poll;
  base::UvHandlePtr<uv_timer_t> timer;
  std::set<Exchange*> live;  // every request not completed yet

  // MHD_run, then the timer for MHD's next timeout (0: there is work left for the next turn).
  void Run() {
    MHD_run(mhd);
    MHD_UNSIGNED_LONG_LONG timeout_ms = 0;
    if (MHD_get_timeout(mhd, &timeout_ms) == MHD_YES) {
      uv_timer_start(
          timer.get(), [](uv_timer_t* t) { static_cast<Impl*>(t->data)->Run(); }, timeout_ms, 0);
    } else {
      uv_timer_stop(timer.get());
    }
  }

  void RunSoon() {
    uv_timer_start(
        timer.get(), [](uv_timer_t* t) { static_cast<Impl*>(t->data)->Run(); }, 0, 0);
  }

  // Before any route: the method, the URL's length, the token.
  std::optional<Response> Refusal(MHD_Connection* connection, const char* url,
                                  const char* method) const {
    if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
      return Plain(MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD: this server is read-only");
    }
    if (std::strlen(url) > options.max_url) {
      return Plain(MHD_HTTP_URI_TOO_LONG, "the URL is too long");
    }
    if (!options.token.empty()) {
      const char* given =
          MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
      constexpr std::string_view kBearer = "Bearer ";
      std::string_view header = given != nullptr ? given : "";
      if (!header.starts_with(kBearer) ||
          !SameSecret(header.substr(kBearer.size()), options.token)) {
        return Plain(MHD_HTTP_UNAUTHORIZED, "a bearer token is required");
      }
    }
    return std::nullopt;
  }

  // The route of `path` exactly, else the longest route ending in "/" (not "/" itself) that
  // `path` starts with.
  std::map<std::string, http::Route>::const_iterator FindRoute(const std::string& path) const {
    auto exact = options.routes.find(path);
    if (exact != options.routes.end()) return exact;
    auto best = options.routes.end();
    for (auto it = options.routes.begin(); it != options.routes.end(); ++it) {
      if (it->first.size() > 1 && it->first.ends_with('/') && path.starts_with(it->first) &&
          (best == options.routes.end() || it->first.size() > best->first.size())) {
        best = it;
      }
    }
    return best;
  }

  void Route(const ExchangePtr& exchange) {
    exchange->routed = true;
    auto route = FindRoute(exchange->request.path);
    if (route == options.routes.end()) {
      exchange->response = Plain(MHD_HTTP_NOT_FOUND, "not found");
      return;
    }
    Answer answer = [exchange](Response response) {
      if (exchange->server == nullptr || exchange->response) return;
      exchange->response = std::move(response);
      if (exchange->suspended) {
        exchange->suspended = false;
        MHD_resume_connection(exchange->connection);
        exchange->server->RunSoon();
      }
    };
    try {
      route->second(exchange->request, std::move(answer));
    } catch (const std::exception& e) {
      spdlog::error("http: {} failed: {}", exchange->request.path, e.what());
      if (!exchange->response) exchange->response = Plain(MHD_HTTP_INTERNAL_SERVER_ERROR, "error");
    }
  }

  static MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url,
                              const char* method, const char*, const char*,
                              size_t* upload_data_size, void** request_state) noexcept {
    auto* self = static_cast<Impl*>(cls);
    auto* slot = static_cast<ExchangePtr*>(*request_state);
    if (slot == nullptr) {  // the headers are in: refuse now, or route on the next call
      auto exchange = std::make_shared<Exchange>();
      exchange->server = self;
      exchange->connection = connection;
      *request_state = new ExchangePtr(exchange);
      self->live.insert(exchange.get());
      if (auto refusal = self->Refusal(connection, url, method)) {
        exchange->routed = true;
        exchange->queued = true;
        return Queue(connection, *refusal);
      }
      exchange->request.method = method;
      exchange->request.path = url;
      MHD_get_connection_values(
          connection, MHD_GET_ARGUMENT_KIND,
          [](void* query, MHD_ValueKind, const char* key, const char* value) {
            (*static_cast<std::map<std::string, std::string>*>(query))[key] = value ? value : "";
            return MHD_YES;
          },
          &exchange->request.query);
      return MHD_YES;
    }
    ExchangePtr exchange = *slot;
    if (*upload_data_size != 0 || exchange->queued) {  // a body: read and ignored
      *upload_data_size = 0;
      return MHD_YES;
    }
    if (!exchange->routed) {
      try {
        self->Route(exchange);
      } catch (...) {
        return MHD_NO;
      }
    }
    if (exchange->response) {
      exchange->queued = true;
      return Queue(connection, *exchange->response);
    }
    if (exchange->suspended) return MHD_YES;
    exchange->suspended = true;
    MHD_suspend_connection(connection);
    return MHD_YES;
  }

  static void OnCompleted(void* cls, MHD_Connection*, void** request_state,
                          MHD_RequestTerminationCode) noexcept {
    auto* self = static_cast<Impl*>(cls);
    auto* slot = static_cast<ExchangePtr*>(*request_state);
    if (slot == nullptr) return;
    (*slot)->server = nullptr;
    self->live.erase(slot->get());
    delete slot;
    *request_state = nullptr;
  }

  base::Result<void> Listen() {
    sockaddr_storage address{};
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
    if (::inet_pton(AF_INET, options.address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(options.port);
    } else if (::inet_pton(AF_INET6, options.address.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(options.port);
      flags |= MHD_USE_IPv6;
    } else {
      return base::Fail(base::code::kBindFailed,
                        "[http] listen: '" + options.address + "' is not an IP address");
    }
    mhd = MHD_start_daemon(
        flags, options.port, nullptr, nullptr, &Impl::OnRequest, this, MHD_OPTION_SOCK_ADDR,
        reinterpret_cast<sockaddr*>(&address), MHD_OPTION_CONNECTION_LIMIT,
        options.connection_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, options.per_ip_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, options.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        options.memory_limit, MHD_OPTION_NOTIFY_COMPLETED, &Impl::OnCompleted, this,
        MHD_OPTION_EXTERNAL_LOGGER, &LogFromMhd, nullptr, MHD_OPTION_END);
    const std::string where = options.address + ":" + std::to_string(options.port);
    if (mhd == nullptr) {
      return base::Fail(base::code::kBindFailed,
                        "cannot listen for HTTP on " + where + ": " + std::strerror(errno) +
                            " (set [http] listen to another address, or \"\" to turn it off)");
    }
    const MHD_DaemonInfo* epoll = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const MHD_DaemonInfo* bound = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
    port = bound != nullptr ? bound->port : options.port;
    if (epoll == nullptr) {
      return base::Fail(base::code::kBindFailed, "libmicrohttpd gave no epoll descriptor");
    }
    timer = base::NewUvTimer(loop, this);
    auto* handle = base::NewUvHandle<uv_poll_t>();
    if (int rc = uv_poll_init(loop, handle, epoll->epoll_fd); rc != 0) {
      delete handle;
      return base::Fail(base::code::kBindFailed, std::string("uv_poll_init: ") + uv_strerror(rc));
    }
    handle->data = this;
    poll.reset(handle);
    uv_poll_start(handle, UV_READABLE,
                  [](uv_poll_t* p, int, int) { static_cast<Impl*>(p->data)->Run(); });
    RunSoon();
    return {};
  }

  ~Impl() {
    if (mhd == nullptr) return;
    // Requests waiting for their answer are resumed with a 503, which one MHD_run sends if the
    // socket takes it at once; then everything closes.
    std::vector<Exchange*> waiting(live.begin(), live.end());
    for (Exchange* exchange : waiting) {
      if (!exchange->suspended) continue;
      exchange->suspended = false;
      exchange->response = Plain(MHD_HTTP_SERVICE_UNAVAILABLE, "the daemon is stopping");
      MHD_resume_connection(exchange->connection);
    }
    MHD_run(mhd);
    poll.reset();  // stops watching the descriptor before MHD closes it
    timer.reset();
    MHD_stop_daemon(mhd);
    for (Exchange* exchange : live) exchange->server = nullptr;
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

uint16_t Server::port() const { return impl_->port; }

base::Result<std::unique_ptr<Server>> Server::Start(uv_loop_t* loop, ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->loop = loop;
  impl->options = std::move(options);
  if (auto listening = impl->Listen(); !listening) return std::unexpected(listening.error());
  spdlog::info("http: listening on {}:{}", impl->options.address, impl->port);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

}  // namespace certinbox::http
