// /metrics read from a real inventory: the streamed body, whatever the size of the blocks the
// client takes, is the exposition whole; each certificate's labels come from its stored names.
#include "http/metrics.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "tests/storage/drop_fixture.h"

namespace certinbox::http {
namespace {

using storage::test::Drop;
using storage::test::kNow;

class MetricsTest : public storage::test::InventoryTest {
 protected:
  MetricsContext Context() const {
    return MetricsContext{.database = db_path(), .now = kNow, .version = "test"};
  }
};

TEST_F(MetricsTest, TheStreamedBodyIsTheWholeExpositionInAnyBlockSize) {
  for (int i = 0; i < 150; ++i) {
    Drop drop;
    drop.Cert(testing::Issue(storage::test::Leaf("m" + std::to_string(i) + ".example", 100)));
    MustImport(drop.Request("m" + std::to_string(i) + ".pem"));
  }
  auto whole = ReadMetrics(Context());
  ASSERT_TRUE(whole) << whole.error().message;
  const std::string text = ReadAll(**whole);
  for (size_t block : {1, 7, 100, 4096, 1 << 20}) {
    auto body = ReadMetrics(Context());
    ASSERT_TRUE(body);
    std::string streamed;
    std::string buffer(block, '\0');
    for (size_t reads = 0; reads < text.size() + 10; ++reads) {
      const size_t n = (*body)->Read(buffer.data(), block);
      ASSERT_LE(n, block);
      if (n == 0) break;
      streamed.append(buffer.data(), n);
    }
    EXPECT_EQ(streamed, text) << "blocks of " << block;
    EXPECT_EQ((*body)->Read(buffer.data(), block), 0u);  // ended for good
  }
  // One series per certificate in each x509 family, each family whole and in order.
  size_t at = text.find("# TYPE x509_cert_not_after gauge\n");
  ASSERT_NE(at, std::string::npos);
  for (const char* family : {"x509_cert_not_after{", "x509_cert_not_before{", "x509_cert_expired{",
                             "certinbox_entry_info{"}) {
    size_t count = 0;
    for (size_t p = text.find(family); p != std::string::npos; p = text.find(family, p + 1)) {
      EXPECT_GT(p, at) << family;
      at = p;
      ++count;
    }
    EXPECT_EQ(count, 150u) << family;
  }
  EXPECT_NE(text.find("subject_CN=\"m42.example\""), std::string::npos);
  EXPECT_NE(text.find("x509_read_errors 0\n"), std::string::npos);
  EXPECT_TRUE(text.ends_with("certinbox_build_info{version=\"test\"} 1\n"));
}

TEST_F(MetricsTest, ABodyReadPastItsDeadlineIsCut) {
  Drop drop;
  drop.Cert(testing::Issue(storage::test::Leaf("late.example", 100)));
  MustImport(drop.Request("late.pem"));
  auto body = ReadMetrics(Context());
  ASSERT_TRUE(body) << body.error().message;
  char block[64];
  EXPECT_GT((*body)->Read(block, sizeof block), 0u);
  (*body)->deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  EXPECT_THROW((*body)->Read(block, sizeof block), std::runtime_error);
}

TEST_F(MetricsTest, AVersionWithoutStoredNamesIsAReadError) {
  Drop drop;
  drop.Cert(testing::Issue(storage::test::Leaf("lost.example", 100)));
  MustImport(drop.Request("lost.pem"));
  inventory_.reset();  // a second writer would wait for this one
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "DELETE FROM version_names", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close_v2(db);
  auto body = ReadMetrics(Context());
  ASSERT_TRUE(body) << body.error().message;
  const std::string text = ReadAll(**body);
  EXPECT_NE(text.find("x509_read_errors 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("x509_cert_not_after{"), std::string::npos);
  EXPECT_NE(text.find("certinbox_entry_info{name=\"lost.example\""), std::string::npos);
}

}  // namespace
}  // namespace certinbox::http
