// A real headless Chromium driven over the W3C WebDriver protocol (Debian's chromium and
// chromium-driver): the web page's tests load it, click it and read it as a user's browser
// would. Every request has a timeout; every failure throws std::runtime_error with what was
// asked and what chromedriver answered.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/testing/process.h"

namespace certinbox::testing {

class WebDriver {
 public:
  // Starts chromedriver on a free loopback port and a headless Chromium session whose profile
  // lives in `scratch_dir`. Throws when either cannot be started.
  explicit WebDriver(const std::filesystem::path& scratch_dir);
  ~WebDriver();
  WebDriver(const WebDriver&) = delete;
  WebDriver& operator=(const WebDriver&) = delete;

  // Whether chromium and chromedriver are installed (scripts/install-deps.sh installs them).
  static bool Available();

  void Go(const std::string& url);
  void Click(const std::string& css);
  // Types `text` into the first element matching `css` (after clearing it).
  void Type(const std::string& css, const std::string& text);
  // The visible text of every element matching `css`, in document order.
  std::vector<std::string> Texts(const std::string& css);
  // The visible text of the first match; throws when nothing matches.
  std::string Text(const std::string& css);
  // Runs `script` (a function body; `return` gives the result) in the page.
  nlohmann::json Execute(const std::string& script);
  // Runs `script` until it returns true or `deadline` passes; returns its last answer.
  bool WaitFor(const std::string& script,
               std::chrono::milliseconds deadline = std::chrono::seconds(15));
  // A PNG of the viewport.
  std::string ScreenshotPng();

 private:
  nlohmann::json Call(const std::string& method, const std::string& path,
                      const nlohmann::json& body = nullptr);
  std::string FindOne(const std::string& css);

  std::string base_;  // http://127.0.0.1:PORT
  std::string session_;
  std::unique_ptr<ChildProcess> driver_;
};

}  // namespace certinbox::testing
