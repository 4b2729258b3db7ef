// The Plugins table of `certinbox status`, and the shell quoting of `certinbox plugin env`.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "cli/render.h"
#include "cli/shell_quote.h"

namespace certinbox::cli {
namespace {

TEST(RenderPluginsTest, StatusListsEachPlugin) {
  Json status = {{"pid", 1},
                 {"plugins",
                  {{{"name", "deploy"},
                    {"state", "running"},
                    {"pid", 4242},
                    {"restarts", 0},
                    {"cursor", 17},
                    {"behind", 0},
                    {"last_exit", nullptr},
                    {"last_error", nullptr}},
                   {{"name", "hook"},
                    {"state", "backoff"},
                    {"pid", nullptr},
                    {"restarts", 3},
                    {"cursor", 9},
                    {"behind", 8},
                    {"last_exit", "exit 3"},
                    {"last_error", "exited with status 3"}}}}};
  std::string text = RenderStatus(status);
  EXPECT_NE(text.find("PLUGIN  STATE    PID   RESTARTS  CURSOR  BEHIND  LAST EXIT  LAST ERROR"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("deploy  running  4242  0         17      0       -          -"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("hook    backoff  -     3         9       8       exit 3     exited with "
                      "status 3"),
            std::string::npos)
      << text;
  EXPECT_EQ(RenderStatus(Json{{"pid", 1}}).find("PLUGIN"), std::string::npos);
}

TEST(ShellQuoteTest, EvalGivesTheValueBack) {
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's $HOME `x`"), "'it'\\''s $HOME `x`'");
  // The real shell agrees.
  const std::string tricky = "x'y\"z $(false) \\ \n end";
  FILE* pipe = ::popen(("v=" + ShellQuote(tricky) + "; printf %s \"$v\"").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buffer[256];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  ::pclose(pipe);
  EXPECT_EQ(out, tricky);
}

}  // namespace
}  // namespace certinbox::cli
