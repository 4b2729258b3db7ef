#include "pipeline/pem.h"

#include <gtest/gtest.h>

namespace certinbox::pipeline {
namespace {

std::string Decoded(std::string_view body) {
  std::string out;
  EXPECT_TRUE(DecodeBase64(body, out)) << body;
  return out;
}

TEST(Base64Test, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(Decoded("aGVsbG8="), "hello");
  EXPECT_EQ(Decoded("aGVsbG8"), "hello");
  EXPECT_EQ(Decoded("aGk="), "hi");
  EXPECT_EQ(Decoded("aGk"), "hi");
  EXPECT_EQ(Decoded("aGVs\r\nbG8h\n"), "hello!");
  EXPECT_EQ(Decoded(""), "");
}

TEST(Base64Test, RejectsCorruptText) {
  std::string out;
  EXPECT_FALSE(DecodeBase64("aGVs*G8h", out));
  EXPECT_FALSE(DecodeBase64("aGk=aGk=", out));  // data after padding
  EXPECT_FALSE(DecodeBase64("aGVsb", out));     // one dangling sextet
  EXPECT_FALSE(DecodeBase64("aG===", out));
}

TEST(ScanPemTest, FindsBlocksAndSkipsTextOutside) {
  std::string text =
      "Bag Attributes\n    localKeyID: 01 02\nsubject=/CN=x\n"
      "-----BEGIN CERTIFICATE-----\r\naGVsbG8=\r\n-----END CERTIFICATE-----\r\n"
      "junk between\n"
      "  -----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\n"
      "aGk=\n-----END RSA PRIVATE KEY-----";
  auto blocks = ScanPem(text);
  ASSERT_TRUE(blocks) << blocks.error().message;
  ASSERT_EQ(blocks->size(), 2u);
  EXPECT_EQ((*blocks)[0].label, "CERTIFICATE");
  EXPECT_FALSE((*blocks)[0].encrypted);
  EXPECT_EQ(Decoded((*blocks)[0].body), "hello");
  EXPECT_TRUE((*blocks)[0].text.starts_with("-----BEGIN CERTIFICATE-----"));
  EXPECT_TRUE((*blocks)[0].text.ends_with("-----END CERTIFICATE-----\r\n"));
  EXPECT_EQ((*blocks)[1].label, "RSA PRIVATE KEY");
  EXPECT_TRUE((*blocks)[1].encrypted);
  EXPECT_EQ(Decoded((*blocks)[1].body), "hi");
}

TEST(ScanPemTest, MissingOrWrongEndIsMalformed) {
  for (std::string_view text : {
           std::string_view("-----BEGIN CERTIFICATE-----\naGk=\n"),
           std::string_view("-----BEGIN CERTIFICATE-----\naGk=\n-----END PRIVATE KEY-----\n"),
           std::string_view("-----BEGIN CERTIFICATE-----\naGk=\n-----BEGIN CERTIFICATE-----\n"
                            "aGk=\n-----END CERTIFICATE-----\n"),
       }) {
    auto blocks = ScanPem(text);
    ASSERT_FALSE(blocks) << text;
    EXPECT_EQ(blocks.error().code, "malformed_pem");
  }
}

TEST(ScanPemTest, NoBlocks) {
  auto blocks = ScanPem("just text\n");
  ASSERT_TRUE(blocks);
  EXPECT_TRUE(blocks->empty());
  EXPECT_FALSE(LooksLikePem("just text"));
  EXPECT_TRUE(LooksLikePem("x\n-----BEGIN X-----"));
}

}  // namespace
}  // namespace certinbox::pipeline
