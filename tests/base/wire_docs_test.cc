// base/wire.h and docs/events.md agree: every topic and every event field name the code writes
// is documented there (as `name`), so a renamed or new field cannot reach the wire unnoticed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "base/wire.h"

namespace certinbox::base {
namespace {

std::string EventsDoc() {
  std::ifstream in(std::filesystem::path(CERTINBOX_SOURCE_DIR) / "docs" / "events.md");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(WireDocsTest, EveryTopicAndFieldIsInTheEventsReference) {
  const std::string doc = EventsDoc();
  ASSERT_FALSE(doc.empty()) << "docs/events.md not found";
  for (const char* topic : topic::kAll) {
    EXPECT_NE(doc.find("`" + std::string(topic) + "`"), std::string::npos) << topic;
  }
  std::set<std::string> seen;
  for (const char* name : field::kAll) {
    EXPECT_TRUE(seen.insert(name).second) << name << " is listed twice";
    // In a table cell or an object's key list: `name`, {name, or , name}.
    const bool documented = doc.find("`" + std::string(name) + "`") != std::string::npos ||
                            doc.find("{" + std::string(name) + ",") != std::string::npos ||
                            doc.find(" " + std::string(name) + "}") != std::string::npos;
    EXPECT_TRUE(documented) << name << " is not in docs/events.md";
  }
}

}  // namespace
}  // namespace certinbox::base
