// The error-code registry (base/error_codes.h) and the docs agree: every reason of failed/ is a
// row of the "Reason codes" table, every control error code a row of protocol.md's "Error codes"
// table, and neither table names a code the registry does not have.
#include "base/error_codes.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace certinbox::base::code {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The codes in the first column of the table under the heading `heading` (a line that starts
// with it) in any docs/*.md; an empty set when no such heading exists. A cell may hold several
// codes: "`vault_error`, `internal_error`".
std::set<std::string> TableCodes(const std::string& heading, std::string* found_in) {
  std::set<std::string> codes;
  for (const auto& doc : fs::directory_iterator(fs::path(CERTINBOX_SOURCE_DIR) / "docs")) {
    if (doc.path().extension() != ".md") continue;
    std::istringstream lines(ReadFile(doc.path()));
    std::string line;
    bool in_section = false;
    while (std::getline(lines, line)) {
      if (line.rfind("#", 0) == 0) in_section = line.rfind(heading, 0) == 0;
      if (!in_section || line.rfind("| `", 0) != 0) continue;
      std::string first_cell = line.substr(1, line.find('|', 1) - 1);
      static const std::regex kCode("`([a-z][a-z0-9_]*)`");
      for (std::sregex_iterator it(first_cell.begin(), first_cell.end(), kCode), end; it != end;
           ++it) {
        codes.insert((*it)[1]);
      }
      *found_in = doc.path().filename().string();
    }
  }
  return codes;
}

std::set<std::string> Registered(unsigned where) {
  std::set<std::string> codes;
  for (const Info& info : kAll) {
    if (info.where & where) codes.emplace(info.code);
  }
  return codes;
}

TEST(ErrorCodesTest, EveryCodeIsDefinedOnce) {
  std::set<std::string_view> seen;
  for (const Info& info : kAll) {
    EXPECT_TRUE(seen.insert(info.code).second) << info.code;
    EXPECT_NE(info.where, 0u) << info.code;
    EXPECT_TRUE(std::regex_match(std::string(info.code), std::regex("[a-z][a-z0-9_]*")))
        << info.code;
  }
}

TEST(ErrorCodesTest, TheReasonCodesTableListsEveryDropReason) {
  std::string doc;
  std::set<std::string> documented = TableCodes("## Reason codes", &doc);
  ASSERT_FALSE(documented.empty()) << "no \"## Reason codes\" table in docs/";
  EXPECT_EQ(documented, Registered(kDrop)) << "docs/" << doc << " and base/error_codes.h differ";
}

TEST(ErrorCodesTest, TheProtocolsErrorCodesTableListsEveryReplyCode) {
  std::string doc;
  std::set<std::string> documented = TableCodes("### Error codes", &doc);
  ASSERT_FALSE(documented.empty()) << "no \"### Error codes\" table in docs/";
  EXPECT_EQ(documented, Registered(kReply)) << "docs/" << doc << " and base/error_codes.h differ";
}

}  // namespace
}  // namespace certinbox::base::code
