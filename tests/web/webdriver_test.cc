// The browser harness itself: a real Chromium loads a page, a click runs its script, the text and
// a screenshot come back. The web page's own tests stand on this.
#include "tests/testing/webdriver.h"

#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace certinbox::testing {
namespace {

TEST(WebDriverTest, ClicksAPageInARealChromiumAndReadsItBack) {
  ASSERT_TRUE(WebDriver::Available()) << "chromium and chromium-driver: scripts/install-deps.sh";
  TempDir dir;
  WebDriver browser(dir.path());
  browser.Go(
      "data:text/html,<button id=b onclick=\"document.getElementById('out').textContent="
      "'clicked'\">go</button><p id=out>waiting</p>");
  EXPECT_EQ(browser.Text("#out"), "waiting");
  browser.Click("#b");
  EXPECT_TRUE(browser.WaitFor("return document.getElementById('out').textContent === 'clicked'"));
  EXPECT_EQ(browser.Texts("p, button"), (std::vector<std::string>{"go", "clicked"}));
  std::string png = browser.ScreenshotPng();
  ASSERT_GT(png.size(), 8u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

}  // namespace
}  // namespace certinbox::testing
