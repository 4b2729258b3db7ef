#include "tests/testing/webdriver.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <stdexcept>

#include "tests/testing/http_fetch.h"
#include "tests/testing/ports.h"
#include "tests/testing/wait.h"

namespace certinbox::testing {
namespace {

using nlohmann::json;

constexpr char kChromium[] = "/usr/bin/chromium";
constexpr char kChromedriver[] = "/usr/bin/chromedriver";
// The key W3C WebDriver gives an element reference under.
constexpr char kElementKey[] = "element-6066-11e4-a52e-4f735466cecf";

// One HTTP exchange with chromedriver; status 0 when it could not be reached.
std::pair<long, std::string> Exchange(const std::string& method, const std::string& url,
                                      const std::string& body) {
  HttpReply reply = HttpFetch(url, {.method = method,
                                    .headers = {"Content-Type: application/json"},
                                    .body = body,
                                    .timeout = std::chrono::seconds(60)});
  return {reply.status, reply.body};
}

std::string Base64Decode(const std::string& text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) throw std::runtime_error("webdriver: a screenshot that is not base64");
  size_t padding = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

}  // namespace

bool WebDriver::Available() {
  return access(kChromium, X_OK) == 0 && access(kChromedriver, X_OK) == 0;
}

WebDriver::WebDriver(const std::filesystem::path& scratch_dir) {
  int port = FreeLoopbackPort();
  if (port < 0) throw std::runtime_error("webdriver: no free loopback port");
  base_ = "http://127.0.0.1:" + std::to_string(port);
  driver_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{kChromedriver, "--port=" + std::to_string(port),
                               "--allowed-ips=127.0.0.1"},
      SpawnOptions{.stdout_file = (scratch_dir / "chromedriver.log").string(),
                   .stderr_to_stdout = true,
                   .own_process_group = true});
  bool ready = WaitUntil([&] {
    auto [status, body] = Exchange("GET", base_ + "/status", "");
    return status == 200 &&
           json::parse(body, nullptr, false).value("/value/ready"_json_pointer, false);
  });
  if (!ready) throw std::runtime_error("webdriver: chromedriver did not start on " + base_);
  json args = {
      "--headless=new",         "--no-sandbox",
      "--disable-gpu",          "--disable-dev-shm-usage",
      "--no-first-run",         "--disable-extensions",
      "--window-size=1280,900", "--user-data-dir=" + (scratch_dir / "chromium-profile").string()};
  json caps = {{"capabilities",
                {{"alwaysMatch",
                  {{"browserName", "chrome"},
                   {"goog:chromeOptions", {{"binary", kChromium}, {"args", args}}}}}}}};
  json reply = Call("POST", "/session", caps);
  session_ = reply.value("sessionId", "");
  if (session_.empty()) throw std::runtime_error("webdriver: no session id in " + reply.dump());
}

WebDriver::~WebDriver() {
  if (!session_.empty()) Exchange("DELETE", base_ + "/session/" + session_, "");
  if (driver_) driver_->Stop();
}

json WebDriver::Call(const std::string& method, const std::string& path, const json& body) {
  std::string url = base_ + (path.starts_with("/session") && !session_.empty()
                                 ? "/session/" + session_ + path.substr(8)
                                 : path);
  auto [status, text] = Exchange(method, url, body.is_null() ? "{}" : body.dump());
  json reply = json::parse(text, nullptr, false);
  if (status != 200 || reply.is_discarded()) {
    throw std::runtime_error("webdriver: " + method + " " + path + " -> " + std::to_string(status) +
                             " " + text.substr(0, 500));
  }
  return reply.value("value", json());
}

void WebDriver::Go(const std::string& url) { Call("POST", "/session/url", {{"url", url}}); }

std::string WebDriver::FindOne(const std::string& css) {
  json found = Call("POST", "/session/element", {{"using", "css selector"}, {"value", css}});
  std::string id = found.value(kElementKey, "");
  if (id.empty()) throw std::runtime_error("webdriver: no element " + css + ": " + found.dump());
  return id;
}

void WebDriver::Click(const std::string& css) {
  Call("POST", "/session/element/" + FindOne(css) + "/click", json::object());
}

void WebDriver::Type(const std::string& css, const std::string& text) {
  std::string element = FindOne(css);
  Call("POST", "/session/element/" + element + "/clear", json::object());
  Call("POST", "/session/element/" + element + "/value", {{"text", text}});
}

std::vector<std::string> WebDriver::Texts(const std::string& css) {
  json found = Call("POST", "/session/elements", {{"using", "css selector"}, {"value", css}});
  std::vector<std::string> out;
  for (const json& element : found) {
    out.push_back(Call("GET", "/session/element/" + element.value(kElementKey, "") + "/text")
                      .get<std::string>());
  }
  return out;
}

std::string WebDriver::Text(const std::string& css) {
  return Call("GET", "/session/element/" + FindOne(css) + "/text").get<std::string>();
}

json WebDriver::Execute(const std::string& script) {
  return Call("POST", "/session/execute/sync", {{"script", script}, {"args", json::array()}});
}

bool WebDriver::WaitFor(const std::string& script, std::chrono::milliseconds deadline) {
  return WaitUntil([&] { return Execute(script) == true; }, deadline,
                   std::chrono::milliseconds(100));
}

std::string WebDriver::ScreenshotPng() {
  return Base64Decode(Call("GET", "/session/screenshot").get<std::string>());
}

}  // namespace certinbox::testing
